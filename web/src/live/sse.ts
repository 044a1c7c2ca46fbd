// EventStream follows one of the gateway's SSE streams (a run's events, or
// the firehose) with fetch, so that it can send Last-Event-ID itself on
// every reconnect and tell a finished stream (204) from a broken one:
//
//   id: <stream sequence>
//   event: run_event
//   data: {"seq":…,"type":…,"runId":…,"data":{…}}
//
// After a drop it reconnects with Last-Event-ID set to the last sequence it
// delivered, so the gateway resumes right after it: nothing is missed. An
// event at or below that sequence (a replay the server sent again) is
// dropped: nothing is delivered twice. A stream that sends nothing, not even
// its heartbeat comment, for stallMs is treated as dropped.
import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { RunEvent } from "../api/types";

export type StreamState =
  | "connecting" // first connection
  | "open" // receiving
  | "reconnecting" // after a drop, waiting or connecting again
  | "ended" // the server said there is nothing more (204)
  | "unauthorized" // 401: the session is gone
  | "failed" // refused (400, 404): retrying would not help
  | "closed"; // closed by the page

export interface EventStreamOptions {
  url: string;
  /** Resume after this sequence (0 or absent: from the start). */
  after?: number;
  /** Receives the new events of each network read, in stream order. */
  onEvents: (events: RunEvent[]) => void;
  onState?: (state: StreamState, detail?: string) => void;
  fetch?: typeof fetch;
  /** Reconnect delays: the first, doubled per failure up to max, with jitter. */
  backoff?: { initialMs: number; maxMs: number };
  /** A stream silent this long is dropped and resumed (the gateway's heartbeat is 15 s). */
  stallMs?: number;
  /** Waits between reconnects (tests replace it). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

export const sseEventName = "run_event";

const defaultSleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });

export class EventStream {
  private last: number;
  private readonly stop = new AbortController();
  private state: StreamState = "connecting";
  private readonly opts: Required<Omit<EventStreamOptions, "after" | "onState">> & Pick<EventStreamOptions, "onState">;
  private retryMs: number;
  private done: Promise<void> | undefined;
  /** connections counts the requests made (the first one included). */
  connections = 0;

  constructor(opts: EventStreamOptions) {
    this.last = opts.after ?? 0;
    this.opts = {
      fetch: (input, init) => globalThis.fetch(input, init),
      backoff: { initialMs: 500, maxMs: 15000 },
      stallMs: 45000,
      sleep: defaultSleep,
      random: Math.random,
      ...opts,
    };
    this.retryMs = this.opts.backoff.initialMs;
  }

  /** lastEventId is the sequence of the last event delivered. */
  get lastEventId(): number {
    return this.last;
  }

  get currentState(): StreamState {
    return this.state;
  }

  /** start runs the stream until it ends or close is called; it resolves then. */
  start(): Promise<void> {
    this.done ??= this.run();
    return this.done;
  }

  close(): void {
    this.stop.abort();
    this.setState("closed");
  }

  private setState(s: StreamState, detail?: string) {
    if (this.state === "closed") return;
    this.state = s;
    this.opts.onState?.(s, detail);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stop.signal.aborted) {
      const outcome = await this.connect();
      if (this.stop.signal.aborted) return;
      switch (outcome.kind) {
        case "final":
          this.setState(outcome.state, outcome.detail);
          return;
        case "ended-clean":
          // The server closed after sending events (a run's stream ends after
          // its terminal event): ask again at once; a finished stream answers 204.
          failures = outcome.received ? 0 : failures + 1;
          break;
        case "dropped":
          failures = outcome.received ? 1 : failures + 1;
          break;
      }
      this.setState("reconnecting", outcome.kind === "dropped" ? outcome.detail : undefined);
      if (failures > 0) {
        const base = Math.min(this.opts.backoff.maxMs, this.retryMs * 2 ** (failures - 1));
        const jitter = 0.8 + 0.4 * this.opts.random();
        await this.opts.sleep(Math.round(base * jitter), this.stop.signal);
      }
    }
  }

  private async connect(): Promise<
    | { kind: "final"; state: StreamState; detail?: string }
    | { kind: "ended-clean"; received: boolean }
    | { kind: "dropped"; received: boolean; detail: string }
  > {
    const attempt = new AbortController();
    const onStop = () => attempt.abort();
    this.stop.signal.addEventListener("abort", onStop);
    let received = false;
    let stallTimer: ReturnType<typeof setTimeout> | undefined;
    let stalled = false;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        stalled = true;
        attempt.abort();
      }, this.opts.stallMs);
    };
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream" };
      if (this.last > 0) headers["Last-Event-ID"] = String(this.last);
      this.connections++;
      armStall();
      const res = await this.opts.fetch(this.opts.url, {
        headers,
        credentials: "same-origin",
        cache: "no-store",
        signal: attempt.signal,
      });
      if (res.status === 204) return { kind: "final", state: "ended" };
      if (res.status === 401) return { kind: "final", state: "unauthorized", detail: await problemText(res) };
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
        return { kind: "final", state: "failed", detail: await problemText(res) };
      }
      if (!res.ok || !res.body) {
        return { kind: "dropped", received, detail: `the stream answered ${res.status}` };
      }
      this.setState("open");
      const batch: RunEvent[] = [];
      const parser = createParser({
        onEvent: (msg: EventSourceMessage) => {
          const ev = this.decode(msg);
          if (ev) batch.push(ev);
        },
        onRetry: (ms: number) => {
          if (ms > 0) this.retryMs = ms;
        },
      });
      const reader = res.body.getReader();
      // Not every fetch ends a body's pending read on abort: cancel it here.
      attempt.signal.addEventListener("abort", () => void reader.cancel().catch(() => {}));
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        armStall();
        parser.feed(decoder.decode(value, { stream: true }));
        if (batch.length > 0) {
          received = true;
          this.opts.onEvents(batch.splice(0));
        }
      }
      if (this.stop.signal.aborted) return { kind: "final", state: "closed" };
      if (stalled) return { kind: "dropped", received, detail: "the stream went silent" };
      return { kind: "ended-clean", received };
    } catch (err) {
      if (this.stop.signal.aborted) return { kind: "final", state: "closed" };
      const detail = stalled ? "the stream went silent" : `the stream broke (${(err as Error).message})`;
      return { kind: "dropped", received, detail };
    } finally {
      clearTimeout(stallTimer);
      this.stop.signal.removeEventListener("abort", onStop);
    }
  }

  /** decode reads one SSE message; it returns nothing for other events, bad data and repeats. */
  private decode(msg: EventSourceMessage): RunEvent | undefined {
    if (msg.event !== undefined && msg.event !== sseEventName) return undefined;
    let ev: RunEvent;
    try {
      ev = JSON.parse(msg.data) as RunEvent;
    } catch {
      return undefined;
    }
    const seq = typeof ev.seq === "number" ? ev.seq : Number(msg.id);
    if (!Number.isSafeInteger(seq) || seq <= this.last) return undefined;
    this.last = seq;
    return ev;
  }
}

async function problemText(res: Response): Promise<string> {
  try {
    const p = (await res.json()) as { detail?: string; title?: string };
    return p.detail ?? p.title ?? `${res.status}`;
  } catch {
    return `${res.status} ${res.statusText}`;
  }
}
