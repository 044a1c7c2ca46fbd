// @vitest-environment node
import { describe, expect, it } from "vitest";
import { EventStream, type StreamState } from "./sse";
import { fixtureRun, sseFrames } from "../test/fixtures";
import type { RunEvent } from "../api/types";

const enc = new TextEncoder();

/** body streams text in pieces of the given sizes (cutting frames anywhere), then ends or breaks. */
function body(text: string, opts: { sizes?: number[]; breakAfter?: number; hang?: boolean } = {}): ReadableStream<Uint8Array> {
  const bytes = enc.encode(text);
  let pos = 0;
  let i = 0;
  return new ReadableStream({
    async pull(ctrl) {
      if (opts.breakAfter !== undefined && pos >= opts.breakAfter) {
        ctrl.error(new TypeError("network error"));
        return;
      }
      if (pos >= bytes.length) {
        if (opts.hang) return new Promise(() => {}); // silent: no bytes, no end
        ctrl.close();
        return;
      }
      const size = opts.sizes?.[i++ % opts.sizes.length] ?? 64;
      const end = Math.min(bytes.length, pos + size, opts.breakAfter ?? Infinity);
      ctrl.enqueue(bytes.slice(pos, end));
      pos = end;
    },
  });
}

interface Call {
  lastEventId: string | null;
}

/** server answers each connection with the next scripted response, built from the Last-Event-ID it got. */
function server(script: ((after: number) => Response)[]) {
  const calls: Call[] = [];
  const fetch = (async (_url: RequestInfo | URL, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    const lastEventId = headers.get("Last-Event-ID");
    calls.push({ lastEventId });
    const step = script[calls.length - 1];
    if (!step) return new Response(null, { status: 204 });
    return step(Number(lastEventId ?? 0));
  }) as typeof globalThis.fetch;
  return { fetch, calls };
}

const sse = (stream: ReadableStream<Uint8Array>) =>
  new Response(stream, { status: 200, headers: { "Content-Type": "text/event-stream" } });

function collect(opts: Partial<ConstructorParameters<typeof EventStream>[0]> & { fetch: typeof fetch }) {
  const got: RunEvent[] = [];
  const states: StreamState[] = [];
  const sleeps: number[] = [];
  const s = new EventStream({
    url: "/v1/runs/x/events",
    onEvents: (evs) => got.push(...evs),
    onState: (st) => states.push(st),
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    ...opts,
  });
  return { s, got, states, sleeps };
}

describe("the SSE client", () => {
  const events = fixtureRun("claude_bash_tool");
  const after = (n: number) => events.filter((e) => e.seq > n);

  it("delivers every event in order, frames cut at any byte, heartbeats ignored", async () => {
    const text = `: heartbeat\n\n${sseFrames(events.slice(0, 5))}: heartbeat\n\n${sseFrames(events.slice(5))}`;
    const { fetch, calls } = server([() => sse(body(text, { sizes: [1, 7, 3, 50, 2, 300] }))]);
    const { s, got, states } = collect({ fetch });
    await s.start();
    expect(got.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(got[4]).toEqual(events[4]);
    // After the server closed the stream it asked again from the last id and got 204.
    expect(calls.map((c) => c.lastEventId)).toEqual([null, String(events.length)]);
    expect(states.at(-1)).toBe("ended");
  });

  it("resumes after a drop with Last-Event-ID: nothing missed, nothing twice", async () => {
    const frames = sseFrames(events);
    const cut = frames.indexOf(`id: 9\n`) + 20; // inside event 9's frame
    const { fetch, calls } = server([
      () => sse(body(frames, { breakAfter: cut, sizes: [33] })),
      // The server resumes, and (as a replay could) repeats two events the client has.
      (n) => sse(body(sseFrames([...events.filter((e) => e.seq > n - 2 && e.seq <= n), ...after(n)]), { sizes: [40] })),
    ]);
    const { s, got, states, sleeps } = collect({ fetch });
    await s.start();
    expect(got.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(calls[1]?.lastEventId).toBe("8");
    expect(states).toEqual(["open", "reconnecting", "open", "reconnecting", "ended"]);
    expect(sleeps).toHaveLength(1); // one backoff after the drop, none after a clean end
  });

  it("starts after a given sequence", async () => {
    const { fetch, calls } = server([(n) => sse(body(sseFrames(after(n))))]);
    const { s, got } = collect({ fetch, after: 20 });
    await s.start();
    expect(calls[0]?.lastEventId).toBe("20");
    expect(got[0]?.seq).toBe(21);
  });

  it("drops a stream that goes silent and resumes it", async () => {
    const { fetch, calls } = server([
      () => sse(body(sseFrames(events.slice(0, 3)), { hang: true })),
      (n) => sse(body(sseFrames(after(n)))),
    ]);
    const { s, got, states } = collect({ fetch, stallMs: 30 });
    await s.start();
    expect(calls[1]?.lastEventId).toBe("3");
    expect(got.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(states).toContain("reconnecting");
  });

  it("backs off on 503, exponentially, and stops on 401 and 404", async () => {
    const unavailable = () => new Response(JSON.stringify({ detail: "busy" }), { status: 503 });
    const a = server([unavailable, unavailable, unavailable, (n) => sse(body(sseFrames(after(n))))]);
    const ra = collect({ fetch: a.fetch, backoff: { initialMs: 100, maxMs: 250 } });
    await ra.s.start();
    expect(ra.sleeps).toEqual([100, 200, 250]);
    expect(ra.got).toHaveLength(events.length);

    const b = server([() => new Response(JSON.stringify({ detail: "sign in" }), { status: 401, headers: { "Content-Type": "application/problem+json" } })]);
    const rb = collect({ fetch: b.fetch });
    await rb.s.start();
    expect(rb.states).toEqual(["unauthorized"]);
    expect(b.calls).toHaveLength(1);

    const c = server([() => new Response(JSON.stringify({ detail: "no such run" }), { status: 404 })]);
    const rc = collect({ fetch: c.fetch });
    await rc.s.start();
    expect(rc.states).toEqual(["failed"]);
  });

  it("stops when closed, mid-stream", async () => {
    const { fetch } = server([() => sse(body(sseFrames(events.slice(0, 2)), { hang: true }))]);
    const r = collect({ fetch, stallMs: 60000 });
    const done = r.s.start();
    await new Promise((res) => setTimeout(res, 20));
    r.s.close();
    await done;
    expect(r.got).toHaveLength(2);
    expect(r.states.at(-1)).toBe("closed");
  });
});
