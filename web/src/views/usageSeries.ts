// usageSeries turns usage rows grouped by day and one other key into the
// chart's series: one point per day, one stacked value per key.
import type { UsageRow } from "../api/pending";

export type Metric = "costUsd" | "tokens";

export interface Series {
  keys: string[];
  points: Record<string, number | string>[];
}

export function valueOf(r: UsageRow, metric: Metric): number {
  return metric === "costUsd" ? (r.costUsd ?? 0) : r.inputTokens + r.outputTokens + (r.reasoningTokens ?? 0);
}

export function usageSeries(rows: readonly UsageRow[], by: "model" | "agent" | "workspace" | "profile", metric: Metric): Series {
  const days = new Map<string, Record<string, number | string>>();
  const keys = new Set<string>();
  for (const r of rows) {
    const day = r.day ?? "";
    const key = r[by] || "—";
    keys.add(key);
    const point = days.get(day) ?? { day };
    point[key] = ((point[key] as number | undefined) ?? 0) + valueOf(r, metric);
    days.set(day, point);
  }
  const sortedKeys = [...keys].sort();
  const points = [...days.values()].sort((a, b) => String(a.day).localeCompare(String(b.day)));
  for (const p of points) for (const k of sortedKeys) p[k] ??= 0;
  return { keys: sortedKeys, points };
}

/** totalsBy sums a metric per key, largest first. */
export function totalsBy(rows: readonly UsageRow[], by: "model" | "agent" | "workspace" | "profile", metric: Metric): { key: string; value: number }[] {
  const m = new Map<string, number>();
  for (const r of rows) m.set(r[by] || "—", (m.get(r[by] || "—") ?? 0) + valueOf(r, metric));
  return [...m.entries()].map(([key, value]) => ({ key, value })).sort((a, b) => b.value - a.value);
}
