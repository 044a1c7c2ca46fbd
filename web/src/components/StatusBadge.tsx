import type { RunStatus } from "../api/types";

const tones: Record<string, string> = {
  requested: "muted",
  queued: "wait",
  dispatched: "wait",
  preparing: "wait",
  running: "live",
  paused: "warn",
  awaiting_input: "attention",
  retry_scheduled: "warn",
  completed: "good",
  failed: "bad",
  rejected: "bad",
  canceled: "muted",
};

export function StatusBadge({ status, reason }: { status: RunStatus | string; reason?: string | null }) {
  return (
    <span className={`badge badge-${tones[status] ?? "muted"}`} title={reason ?? undefined}>
      {status.replace("_", " ")}
      {reason && status !== "completed" ? <span className="badge-reason"> · {reason}</span> : null}
    </span>
  );
}
