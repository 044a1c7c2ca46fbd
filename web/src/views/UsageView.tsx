// Usage: cost and tokens by day, stacked by model, agent, workspace or
// profile (GET /v1/usage), as charts and a table.
import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { tokens, usd } from "../format";
import { useBoard } from "../live/BoardContext";
import { totalsBy, usageSeries, type Metric } from "./usageSeries";

const palette = ["#7c9cff", "#4fd1a5", "#f6c177", "#eb6f92", "#c4a7e7", "#9ccfd8", "#f2994a", "#a3be8c"];
const ranges = { "7d": 7, "30d": 30, "90d": 90 } as const;
type By = "model" | "agent" | "workspace" | "profile";

export function UsageView() {
  const { api } = useBoard();
  const [by, setBy] = useState<By>("model");
  const [metric, setMetric] = useState<Metric>("costUsd");
  const [range, setRange] = useState<keyof typeof ranges>("30d");
  const from = new Date(Date.now() - ranges[range] * 86400_000).toISOString().slice(0, 10);
  const q = useQuery({ queryKey: ["usage", by, from], queryFn: () => api.usage({ groupBy: ["day", by], from }), refetchInterval: 30000 });
  const rows = q.data?.rows ?? [];
  const series = usageSeries(rows, by, metric);
  const totals = totalsBy(rows, by, metric);
  const fmt = (v: number) => (metric === "costUsd" ? usd(v) : tokens(v));
  const estimated = rows.some((r) => r.costEstimated);
  return (
    <div>
      <PageHeader title="Usage">
        <select aria-label="Range" value={range} onChange={(e) => setRange(e.target.value as keyof typeof ranges)}>
          {Object.keys(ranges).map((r) => (
            <option key={r} value={r}>
              Last {r}
            </option>
          ))}
        </select>
        <select aria-label="Group by" value={by} onChange={(e) => setBy(e.target.value as By)}>
          <option value="model">by model</option>
          <option value="agent">by agent</option>
          <option value="workspace">by workspace</option>
          <option value="profile">by profile</option>
        </select>
        <span className="seg" role="group" aria-label="Metric">
          <button type="button" aria-pressed={metric === "costUsd"} onClick={() => setMetric("costUsd")}>
            Cost
          </button>
          <button type="button" aria-pressed={metric === "tokens"} onClick={() => setMetric("tokens")}>
            Tokens
          </button>
        </span>
      </PageHeader>
      <ProblemNote error={q.error} what="Usage" />
      {q.isLoading ? <Loading what="usage" /> : null}
      {q.data ? (
        <>
          <figure className="chart" aria-label={`${metric === "costUsd" ? "Cost" : "Tokens"} per day by ${by}`}>
            <ResponsiveContainer width="100%" height={320}>
              <BarChart data={series.points} margin={{ top: 8, right: 8, bottom: 8, left: 8 }}>
                <CartesianGrid strokeDasharray="3 3" stroke="#33405a" />
                <XAxis dataKey="day" stroke="#a9b4cc" />
                <YAxis stroke="#a9b4cc" tickFormatter={fmt} width={70} />
                <Tooltip formatter={(v) => fmt(Number(v))} contentStyle={{ background: "#1b2233", border: "1px solid #33405a" }} />
                <Legend />
                {series.keys.map((k, i) => (
                  <Bar key={k} dataKey={k} stackId="a" fill={palette[i % palette.length]} isAnimationActive={false} />
                ))}
              </BarChart>
            </ResponsiveContainer>
            <figcaption className="muted">
              {estimated ? "Some costs are estimated from the price table. " : ""}
              Total {fmt(totals.reduce((n, t) => n + t.value, 0))}
              {q.data.total ? ` · ${q.data.total.runs ?? "?"} runs` : ""}
            </figcaption>
          </figure>
          <table className="table">
            <thead>
              <tr>
                <th>{by}</th>
                <th className="num">{metric === "costUsd" ? "Cost" : "Tokens"}</th>
              </tr>
            </thead>
            <tbody>
              {totals.map((t) => (
                <tr key={t.key}>
                  <td>{t.key}</td>
                  <td className="num">{fmt(t.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}
    </div>
  );
}
