// The runs board's state: every run the page knows, newest first, kept
// live by the firehose. Runs come from GET /v1/runs (a snapshot, each with
// the lastSeq it was projected at) and from events; a run's events at or
// below its lastSeq are ignored, so the snapshot and the stream may overlap
// in any order and nothing is applied twice.
import type { EventPayloads, RunEvent } from "../api/types";
import type { Usage } from "../api/events.gen";
import { foldRun, isPlaceholder, placeholder, type BoardRun } from "./runstate";

export interface LiveUsage {
  /** The latest cumulative usage per attempt and model (run.semantic usage events replace, never add). */
  byKey: Record<string, Usage>;
  costUsd: number | null;
  inputTokens: number;
  outputTokens: number;
}

export interface BoardState {
  runs: Record<string, BoardRun>;
  /** Run ids, newest first (ids are ULIDs: their order is creation order). */
  ids: string[];
  /** Usage folded from run.semantic events seen live. */
  usage: Record<string, LiveUsage>;
  /** The highest stream sequence applied: the firehose resumes after it. */
  lastSeq: number;
}

export type BoardAction =
  | { type: "snapshot"; runs: BoardRun[] }
  | { type: "upsert"; run: BoardRun }
  | { type: "events"; events: RunEvent[] };

export const emptyBoard: BoardState = { runs: {}, ids: [], usage: {}, lastSeq: 0 };

/** insertId keeps ids sorted newest first. */
function insertId(ids: string[], id: string): string[] {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((ids[mid] as string) > id) lo = mid + 1;
    else hi = mid;
  }
  const out = ids.slice();
  out.splice(lo, 0, id);
  return out;
}

/**
 * mergeRow takes a row from the API over what the board has, unless the
 * board already folded later events; a placeholder still gets the request
 * fields the row knows.
 */
function mergeRow(have: BoardRun | undefined, row: BoardRun): BoardRun {
  if (!have || row.lastSeq >= have.lastSeq) return have ? { ...have, ...row } : row;
  if (isPlaceholder(have) && !isPlaceholder(row)) {
    return {
      ...have,
      agent: row.agent,
      prompt: row.prompt,
      workspace: row.workspace,
      spec: row.spec,
      rerunOf: row.rerunOf,
      conversationId: row.conversationId,
      requestedBy: row.requestedBy,
      createdAt: row.createdAt,
      name: row.name ?? have.name,
    };
  }
  return have;
}

function upsert(s: BoardState, row: BoardRun): BoardState {
  const have = s.runs[row.id];
  const merged = mergeRow(have, row);
  if (merged === have) return s;
  return { ...s, runs: { ...s.runs, [row.id]: merged }, ids: have ? s.ids : insertId(s.ids, row.id) };
}

function foldUsage(prev: LiveUsage | undefined, ev: RunEvent): LiveUsage | undefined {
  const p = ev.data as EventPayloads["run.semantic"];
  if (p?.kind !== "usage" || !p.usage) return prev;
  const key = `${p.attempt ?? ev.attempt ?? 0}|${p.usage.model ?? p.model ?? ""}`;
  const byKey = { ...(prev?.byKey ?? {}), [key]: p.usage };
  let cost: number | null = null;
  let input = 0;
  let output = 0;
  for (const u of Object.values(byKey)) {
    if (typeof u.costUsd === "number") cost = (cost ?? 0) + u.costUsd;
    input += u.inputTokens;
    output += u.outputTokens;
  }
  return { byKey, costUsd: cost, inputTokens: input, outputTokens: output };
}

function applyEvents(s: BoardState, events: RunEvent[]): BoardState {
  let runs: Record<string, BoardRun> | undefined;
  let ids = s.ids;
  let usage: Record<string, LiveUsage> | undefined;
  let lastSeq = s.lastSeq;
  for (const ev of events) {
    if (ev.seq > lastSeq) lastSeq = ev.seq;
    if (!ev.runId || !(ev.type.startsWith("run.") || ev.type.startsWith("session."))) continue;
    const cur = (runs ?? s.runs)[ev.runId];
    const before = cur ?? placeholder(ev.runId, ev);
    const after = foldRun(before, ev);
    if (after !== cur) {
      runs ??= { ...s.runs };
      runs[ev.runId] = after;
      if (!cur) ids = insertId(ids, ev.runId);
    }
    if (ev.type === "run.semantic" && after !== before) {
      const u = foldUsage((usage ?? s.usage)[ev.runId], ev);
      if (u) {
        usage ??= { ...s.usage };
        usage[ev.runId] = u;
      }
    }
  }
  if (!runs && !usage && lastSeq === s.lastSeq) return s;
  return { runs: runs ?? s.runs, ids, usage: usage ?? s.usage, lastSeq };
}

export function boardReducer(s: BoardState, a: BoardAction): BoardState {
  switch (a.type) {
    case "snapshot":
      return a.runs.reduce(upsert, s);
    case "upsert":
      return upsert(s, a.run);
    case "events":
      return applyEvents(s, a.events);
  }
}

/** resumeAfter is where the firehose starts after a snapshot: the newest event the snapshot reflects. */
export function resumeAfter(s: BoardState): number {
  let max = s.lastSeq;
  for (const id of s.ids) {
    const r = s.runs[id];
    if (r && r.lastSeq > max) max = r.lastSeq;
  }
  return max;
}

/** placeholders are runs seen only through events whose request the page should fetch. */
export function placeholders(s: BoardState): string[] {
  return s.ids.filter((id) => {
    const r = s.runs[id];
    return r !== undefined && isPlaceholder(r);
  });
}
