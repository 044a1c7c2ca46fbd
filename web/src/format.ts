// How the dashboard writes times, sizes, money and reasons.
import type { QueueJob } from "./api/types";

export function shortId(id: string): string {
  return id.length > 10 ? id.slice(-8).toLowerCase() : id;
}

/** age writes how long ago a time was, coarsely (5s, 3m, 2h, 4d). */
export function age(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  return duration(Math.max(0, now - t));
}

export function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h${m % 60 ? ` ${m % 60}m` : ""}`;
  return `${Math.floor(h / 24)}d`;
}

/** clock writes a time of day (14:05), the way a hold's end is read. */
export function clock(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString([], { dateStyle: "medium", timeStyle: "medium" });
}

export function usd(v: number | null | undefined, estimated = false): string {
  if (v === null || v === undefined) return "—";
  const s = v < 0.01 && v > 0 ? `$${v.toFixed(4)}` : `$${v.toFixed(2)}`;
  return estimated ? `~${s}` : s;
}

export function tokens(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  if (n < 1000) return String(n);
  if (n < 1_000_000) return `${(n / 1000).toFixed(n < 10_000 ? 1 : 0)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function basename(path: string): string {
  const parts = path.split("/").filter(Boolean);
  return parts[parts.length - 1] ?? path;
}

/** waitReason says why a queued run waits, as the queue gives it: `provider_hold until 14:05`. */
export function waitReason(job: Pick<QueueJob, "waiting" | "holdUntil" | "notBefore">): string {
  switch (job.waiting) {
    case "provider_hold":
      return job.holdUntil ? `provider_hold until ${clock(job.holdUntil)}` : "provider_hold";
    case "backoff":
      return job.notBefore ? `backoff until ${clock(job.notBefore)}` : "backoff";
    default:
      return job.waiting;
  }
}
