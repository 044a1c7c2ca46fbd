// The board's live state, shared by every view: a snapshot of the runs
// (GET /v1/runs), then the firehose (GET /v1/events) from where the snapshot
// ends, resumed after a drop. Until the gateway serves the firehose the
// board polls the runs list instead (and says so).
import { createContext, useContext, useEffect, useMemo, useReducer, useRef, useState, type ReactNode } from "react";
import { ApiError } from "../api/client";
import { endpoints, firehoseUrl, type Endpoints } from "../api/endpoints";
import type { RunEvent } from "../api/types";
import { frameBatcher } from "./batch";
import { boardReducer, emptyBoard, placeholders, resumeAfter, type BoardState } from "./board";
import { noticeFor, notifyPreferenceKey, type Notice } from "./notify";
import type { BoardRun } from "./runstate";
import { EventStream, type StreamState } from "./sse";

export type LiveMode = "loading" | "stream" | "polling" | "signed-out" | "error";

export interface Board {
  state: BoardState;
  mode: LiveMode;
  streamState: StreamState | undefined;
  detail: string | undefined;
  api: Endpoints;
}

const BoardContext = createContext<Board | undefined>(undefined);

export function useBoard(): Board {
  const b = useContext(BoardContext);
  if (!b) throw new Error("useBoard outside BoardProvider");
  return b;
}

export interface BoardProviderProps {
  children: ReactNode;
  api?: Endpoints;
  fetch?: typeof fetch;
  pollMs?: number;
  /** notify shows a notice (the browser's Notification by default). */
  notify?: (n: Notice) => void;
}

function browserNotify(n: Notice) {
  if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
  if (localStorage.getItem(notifyPreferenceKey) !== "on") return;
  new Notification(n.title, { body: n.body, tag: n.tag });
}

export function BoardProvider({ children, api: given, fetch: fetchImpl, pollMs = 3000, notify = browserNotify }: BoardProviderProps) {
  const api = useMemo(() => given ?? endpoints(), [given]);
  const [state, dispatch] = useReducer(boardReducer, emptyBoard);
  const [mode, setMode] = useState<LiveMode>("loading");
  const [stream, setStream] = useState<{ state?: StreamState; detail?: string }>({});

  useEffect(() => {
    let stopped = false;
    let es: EventStream | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    const batcher = frameBatcher<RunEvent>((events) => dispatch({ type: "events", events }));
    const snapshot = async (): Promise<BoardRun[]> => {
      const page = await api.listRuns({ limit: 200 });
      if (!stopped) dispatch({ type: "snapshot", runs: page.runs as BoardRun[] });
      return page.runs as BoardRun[];
    };
    const startPolling = (why?: string) => {
      setMode("polling");
      setStream({ state: "failed", detail: why });
      poll ??= setInterval(() => {
        snapshot().catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 401) setMode("signed-out");
        });
      }, pollMs);
    };
    (async () => {
      let rows: BoardRun[];
      try {
        rows = await snapshot();
      } catch (err) {
        if (stopped) return;
        setMode(err instanceof ApiError && err.status === 401 ? "signed-out" : "error");
        setStream({ detail: (err as Error).message });
        return;
      }
      if (stopped) return;
      setMode("stream");
      es = new EventStream({
        url: firehoseUrl,
        // The newest event the snapshot reflects: the stream resumes right after it.
        after: resumeAfter(boardReducer(emptyBoard, { type: "snapshot", runs: rows })),
        onEvents: (evs) => batcher.push(evs),
        onState: (st, detail) => {
          setStream({ state: st, detail });
          if (st === "unauthorized") setMode("signed-out");
          if (st === "failed") startPolling(detail);
        },
        ...(fetchImpl ? { fetch: fetchImpl } : {}),
      });
      void es.start();
    })();
    return () => {
      stopped = true;
      es?.close();
      batcher.cancel();
      if (poll) clearInterval(poll);
    };
  }, [api, fetchImpl, pollMs]);

  // Runs seen only through events: fetch their rows once.
  const asked = useRef(new Set<string>());
  useEffect(() => {
    for (const id of placeholders(state)) {
      if (asked.current.has(id)) continue;
      asked.current.add(id);
      api
        .getRun(id)
        .then((run) => dispatch({ type: "upsert", run: run as BoardRun }))
        .catch(() => {});
    }
  }, [state, api]);

  // Notices for runs that changed state since the last render.
  const previous = useRef<BoardState | undefined>(undefined);
  useEffect(() => {
    const before = previous.current;
    previous.current = state;
    if (!before || before.runs === state.runs) return;
    for (const id of state.ids) {
      const after = state.runs[id];
      const was = before.runs[id];
      if (after && was && after !== was) {
        const n = noticeFor(was, after);
        if (n) notify(n);
      }
    }
  }, [state, notify]);

  const value = useMemo<Board>(
    () => ({ state, mode, streamState: stream.state, detail: stream.detail, api }),
    [state, mode, stream, api],
  );
  return <BoardContext.Provider value={value}>{children}</BoardContext.Provider>;
}
