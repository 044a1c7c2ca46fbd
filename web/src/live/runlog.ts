// A run's event log as the run view holds it: every event once, in stream
// order, whatever order they arrived in (a stream delivers them in order; a
// resumed stream or a replay may repeat some).
import type { RunEvent } from "../api/types";

export interface RunLog {
  events: RunEvent[];
  /** The highest sequence held. */
  lastSeq: number;
  /** inOrder is false when the last append had to insert before the end (views rebuild then). */
  inOrder: boolean;
  /** appended is how many events the last append added at the end (when inOrder). */
  appended: number;
  seen: ReadonlySet<number>;
}

export const emptyLog: RunLog = { events: [], lastSeq: 0, inOrder: true, appended: 0, seen: new Set() };

export function appendEvents(log: RunLog, batch: RunEvent[]): RunLog {
  let events: RunEvent[] | undefined;
  let seen: Set<number> | undefined;
  let lastSeq = log.lastSeq;
  let inOrder = true;
  let appended = 0;
  for (const ev of batch) {
    if ((seen ?? log.seen).has(ev.seq)) continue;
    events ??= log.events.slice();
    seen ??= new Set(log.seen);
    seen.add(ev.seq);
    if (ev.seq > lastSeq) {
      events.push(ev);
      lastSeq = ev.seq;
      appended++;
      continue;
    }
    inOrder = false;
    let lo = 0;
    let hi = events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((events[mid] as RunEvent).seq < ev.seq) lo = mid + 1;
      else hi = mid;
    }
    events.splice(lo, 0, ev);
  }
  if (!events || !seen) return { ...log, appended: 0, inOrder: true };
  return { events, lastSeq, inOrder, appended: inOrder ? appended : 0, seen };
}
