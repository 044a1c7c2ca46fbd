// What the dashboard tells a person about runs while they look elsewhere:
// a browser notification (opt-in) when a run ends, fails or waits for
// input, and the number of runs waiting for input in the tab's title.
import type { RunStatus } from "../api/types";
import type { BoardRun } from "./runstate";

export interface Notice {
  title: string;
  body: string;
  /** tag groups a run's notices (a later one replaces the earlier). */
  tag: string;
}

const noticeStatuses: Partial<Record<RunStatus, string>> = {
  completed: "finished",
  failed: "failed",
  canceled: "was canceled",
  awaiting_input: "waits for input",
};

/** noticeFor says what to tell when a run changes from before to after; nothing when it did not change state. */
export function noticeFor(before: BoardRun | undefined, after: BoardRun): Notice | undefined {
  if (before === undefined || before.status === after.status) return undefined;
  const what = noticeStatuses[after.status];
  if (!what) return undefined;
  const name = after.name || after.id.slice(-8).toLowerCase();
  const detail =
    after.status === "failed"
      ? `${after.reason ?? "failed"}${after.message ? `: ${after.message}` : ""}`
      : after.status === "completed"
        ? (after.result ?? "").slice(0, 140)
        : after.prompt.slice(0, 140);
  return { title: `${name} (${after.agent}) ${what}`, body: detail, tag: `phantom-${after.id}` };
}

/** titleFor is the tab's title: how many runs wait for input, first. */
export function titleFor(waiting: number, page: string): string {
  const base = page ? `${page} · Phantom` : "Phantom";
  return waiting > 0 ? `(${waiting}) ${base}` : base;
}

export function countWaiting(runs: Record<string, BoardRun>, ids: readonly string[]): number {
  let n = 0;
  for (const id of ids) if (runs[id]?.status === "awaiting_input") n++;
  return n;
}

export const notifyPreferenceKey = "phantom.notifications";
