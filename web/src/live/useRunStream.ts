// useRunStream follows one run's events (GET /v1/runs/{id}/events) from the
// start and keeps its log and transcript; a drop resumes after the last
// event held.
import { useEffect, useReducer, useState } from "react";
import { runEventsUrl } from "../api/endpoints";
import type { RunEvent } from "../api/types";
import { buildTranscript, emptyTranscript, foldTranscript, type Transcript } from "../transcript/model";
import { frameBatcher } from "./batch";
import { appendEvents, emptyLog, type RunLog } from "./runlog";
import { foldRun, placeholder, type BoardRun } from "./runstate";
import { EventStream, type StreamState } from "./sse";

export interface RunStream {
  log: RunLog;
  transcript: Transcript;
  /** The run folded from its own events (the stream starts at its first). */
  run: BoardRun | undefined;
}

const initial: RunStream = { log: emptyLog, transcript: emptyTranscript, run: undefined };

function foldAll(run: BoardRun | undefined, events: readonly RunEvent[]): BoardRun | undefined {
  for (const ev of events) run = foldRun(run ?? placeholder(ev.runId, ev), ev);
  return run;
}

export function runStreamReducer(s: RunStream, batch: RunEvent[] | "reset"): RunStream {
  if (batch === "reset") return initial;
  const log = appendEvents(s.log, batch);
  if (log.events === s.log.events) return s;
  if (!log.inOrder) return { log, transcript: buildTranscript(log.events), run: foldAll(undefined, log.events) };
  const added = log.events.slice(log.events.length - log.appended);
  return { log, transcript: foldTranscript(s.transcript, added), run: foldAll(s.run, added) };
}

export function useRunStream(runId: string, fetchImpl?: typeof fetch): RunStream & { state: StreamState; detail?: string } {
  const [stream, dispatch] = useReducer(runStreamReducer, initial);
  const [state, setState] = useState<{ state: StreamState; detail?: string }>({ state: "connecting" });
  useEffect(() => {
    dispatch("reset");
    const batcher = frameBatcher<RunEvent>((evs) => dispatch(evs));
    const es = new EventStream({
      url: runEventsUrl(runId),
      onEvents: (evs) => batcher.push(evs),
      onState: (st, detail) => setState({ state: st, detail }),
      ...(fetchImpl ? { fetch: fetchImpl } : {}),
    });
    void es.start();
    return () => {
      es.close();
      batcher.cancel();
    };
  }, [runId, fetchImpl]);
  return { ...stream, ...state };
}
