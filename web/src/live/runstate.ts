// foldRun applies one event to a run as the projector's runs read model does
// (services/projector/internal/domain/runstate), so that the board shows
// what GET /v1/runs will show, live:
//   - an event at or below the run's lastSeq changes nothing (dedupe);
//   - run.requested fills the request; a run first seen through another
//     event is a placeholder (status requested) until it comes;
//   - the status follows the event type; a terminal status never changes;
//   - fencing: an event of an older attempt only moves lastSeq and
//     updatedAt; one of a newer attempt clears what described the previous.
import type { EventPayloads, Run, RunEvent, RunSpec } from "../api/types";
import type { RunExtras } from "../api/pending";
import { isTerminal } from "../api/types";

export type BoardRun = Run & RunExtras;

/**
 * Event types that put a run in awaiting_input (an interactive run waiting
 * for its next turn). The issue "The rest of the specification" adds the
 * state with an event; both names it may take are accepted until the
 * contract names one.
 */
export const awaitingInputTypes = new Set(["run.awaiting_input", "session.awaiting_input"]);

const placeholderSpec = {} as RunSpec;

export function placeholder(id: string, ev: Pick<RunEvent, "time">): BoardRun {
  return {
    id,
    agent: "",
    provider: "",
    pool: "",
    prompt: "",
    workspace: "",
    spec: placeholderSpec,
    status: "requested",
    priority: 0,
    attempt: 0,
    runnerId: null,
    host: null,
    pid: null,
    cwd: null,
    exitCode: null,
    reason: null,
    message: null,
    result: null,
    rerunOf: null,
    conversationId: null,
    requestedBy: null,
    archived: false,
    createdAt: ev.time,
    queuedAt: null,
    dispatchedAt: null,
    startedAt: null,
    finishedAt: null,
    updatedAt: ev.time,
    lastSeq: 0,
  };
}

/** isPlaceholder: the run is known from its events but not from its request yet. */
export function isPlaceholder(r: BoardRun): boolean {
  return r.spec === placeholderSpec || (r.agent === "" && Object.keys(r.spec ?? {}).length === 0);
}

function attemptOf(ev: RunEvent): number {
  const d = ev.data as { attempt?: unknown } | null;
  if (d && typeof d.attempt === "number" && d.attempt > 0) return d.attempt;
  return ev.attempt ?? 0;
}

const opt = (s: string | undefined | null): string | null => (s ? s : null);

/** foldRun returns the run after ev (the same object when ev changes nothing). */
export function foldRun(r: BoardRun, ev: RunEvent): BoardRun {
  if (ev.seq <= r.lastSeq) return r;
  const next: BoardRun = { ...r, lastSeq: ev.seq, updatedAt: ev.time };
  const t = ev.time;
  if (ev.type === "run.requested") {
    const p = ev.data as EventPayloads["run.requested"];
    const fresh = isPlaceholder(r) && r.status === "requested";
    const spec = p.spec as unknown as RunSpec;
    next.agent = spec.agent;
    next.prompt = spec.prompt;
    next.workspace = spec.workspace;
    next.spec = spec;
    next.rerunOf = opt(p.rerunOf);
    next.conversationId = opt(p.conversationId);
    next.requestedBy = opt(p.requestedBy);
    next.createdAt = t;
    if (fresh) {
      next.provider = spec.provider || spec.agent;
      next.pool = spec.pool || "default";
      next.priority = spec.priority ?? 0;
    }
    return next;
  }
  if (ev.type === "run.archived") {
    next.archived = true;
    return next;
  }
  const n = attemptOf(ev);
  if (n > 0 && n < r.attempt) return next; // fenced: a late event of an abandoned attempt
  if (isTerminal(r.status)) return next;
  if (r.status === "retry_scheduled" && n === r.attempt && ev.type !== "run.retry_scheduled") return next;
  if (n > r.attempt) {
    next.attempt = n;
    next.runnerId = next.host = next.cwd = null;
    next.pid = next.exitCode = null;
    next.reason = next.message = next.result = null;
    next.dispatchedAt = next.startedAt = next.finishedAt = null;
  }
  switch (ev.type) {
    case "run.queued": {
      const p = ev.data as EventPayloads["run.queued"];
      next.status = "queued";
      next.queuedAt = t;
      next.priority = p.priority;
      if (p.provider) next.provider = p.provider;
      if (p.pool) next.pool = p.pool;
      break;
    }
    case "run.rejected": {
      const p = ev.data as EventPayloads["run.rejected"];
      next.status = "rejected";
      next.reason = opt(p.reason);
      next.message = opt(p.message);
      next.finishedAt = t;
      break;
    }
    case "run.dispatched":
      next.status = "dispatched";
      next.dispatchedAt = t;
      break;
    case "run.worktree_prepared":
      if (next.status === "dispatched") next.status = "preparing";
      break;
    case "run.progress":
      if ((ev.data as EventPayloads["run.progress"]).phase === "preparing" && next.status === "dispatched") {
        next.status = "preparing";
      }
      break;
    case "run.started": {
      const p = ev.data as EventPayloads["run.started"];
      next.status = "running";
      next.runnerId = opt(p.runnerId);
      next.host = opt(p.host);
      next.pid = p.pid;
      next.cwd = opt(p.cwd);
      next.startedAt = t;
      break;
    }
    case "run.paused":
      next.status = "paused";
      break;
    case "run.resumed":
      if (next.status === "paused") next.status = "running";
      break;
    case "session.input_accepted":
      if (next.status === "awaiting_input") next.status = "running";
      break;
    case "run.cli_exit":
      next.exitCode = (ev.data as EventPayloads["run.cli_exit"]).exitCode;
      break;
    case "run.completed": {
      const p = ev.data as EventPayloads["run.completed"];
      next.status = "completed";
      next.exitCode = p.exitCode;
      next.result = opt(p.result);
      next.reason = next.message = null;
      next.finishedAt = t;
      break;
    }
    case "run.failed": {
      const p = ev.data as EventPayloads["run.failed"];
      next.reason = opt(p.reason);
      next.message = opt(p.message);
      if (p.exitCode !== undefined) next.exitCode = p.exitCode;
      if (p.retryable) {
        next.status = "retry_scheduled";
      } else {
        next.status = "failed";
        next.finishedAt = t;
      }
      break;
    }
    case "run.canceled": {
      const p = ev.data as EventPayloads["run.canceled"];
      next.status = "canceled";
      next.reason = p.reason || "canceled";
      next.message = p.by ? `canceled by ${p.by}` : null;
      next.finishedAt = t;
      break;
    }
    case "run.retry_scheduled": {
      const p = ev.data as EventPayloads["run.retry_scheduled"];
      next.status = "retry_scheduled";
      if (p.reason) next.reason = p.reason;
      break;
    }
    default:
      if (awaitingInputTypes.has(ev.type) && (next.status === "running" || next.status === "paused")) {
        next.status = "awaiting_input";
      }
  }
  return next;
}
