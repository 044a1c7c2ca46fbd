// @vitest-environment node
import { describe, expect, it } from "vitest";
import { boardReducer, emptyBoard, placeholders, resumeAfter, type BoardState } from "./board";
import { foldRun, placeholder, type BoardRun } from "./runstate";
import { EventMaker, fixtureRun } from "../test/fixtures";
import type { RunEvent } from "../api/types";

const apply = (s: BoardState, events: RunEvent[]) => boardReducer(s, { type: "events", events });

/** interleave merges several runs' logs into one firehose, renumbered in the given order. */
function firehose(logs: RunEvent[][]): RunEvent[] {
  const out: RunEvent[] = [];
  const cursors = logs.map(() => 0);
  let seq = 0;
  for (let round = 0; out.length < logs.reduce((n, l) => n + l.length, 0); round++) {
    logs.forEach((log, i) => {
      const ev = log[cursors[i] as number];
      if (ev && (round + i) % (i + 1) === 0) {
        out.push({ ...ev, seq: ++seq });
        cursors[i] = (cursors[i] as number) + 1;
      }
    });
  }
  return out;
}

describe("the board's reducer", () => {
  const runA = fixtureRun("claude_bash_tool", {}, new EventMaker("01JAAAAAAAAAAAAAAAAAAAAAAA"));
  const runB = fixtureRun("claude_http400", {}, new EventMaker("01JBBBBBBBBBBBBBBBBBBBBBBB"));
  const runC = fixtureRun("codex_conn_refused", {}, new EventMaker("01JCCCCCCCCCCCCCCCCCCCCCCC"));
  const stream = firehose([runA, runB, runC]);

  it("folds each run to the status the read model gives, newest run first", () => {
    const s = apply(emptyBoard, stream);
    expect(s.ids).toEqual(["01JCCCCCCCCCCCCCCCCCCCCCCC", "01JBBBBBBBBBBBBBBBBBBBBBBB", "01JAAAAAAAAAAAAAAAAAAAAAAA"]);
    expect(s.runs["01JAAAAAAAAAAAAAAAAAAAAAAA"]).toMatchObject({ status: "completed", agent: "claude", result: "Tool said: hi", exitCode: 0 });
    expect(s.runs["01JBBBBBBBBBBBBBBBBBBBBBBB"]).toMatchObject({ status: "failed", reason: "api_error" });
    expect(s.runs["01JCCCCCCCCCCCCCCCCCCCCCCC"]).toMatchObject({ status: "canceled", message: "canceled by test" });
    expect(s.lastSeq).toBe(stream.length);
    expect(s.usage["01JAAAAAAAAAAAAAAAAAAAAAAA"]).toMatchObject({ inputTokens: 309, outputTokens: 36 });
    expect(s.usage["01JAAAAAAAAAAAAAAAAAAAAAAA"]?.costUsd).toBeCloseTo(0.002445, 9);
  });

  it("gives the same state whatever the batches, and applies a repeated event once", () => {
    const whole = apply(emptyBoard, stream);
    let step = emptyBoard;
    for (let i = 0; i < stream.length; i += 7) step = apply(step, stream.slice(i, i + 7));
    expect(step).toEqual(whole);
    // A resumed stream that sends the last 10 events again changes nothing.
    const again = apply(whole, stream.slice(-10));
    expect(again).toBe(whole);
  });

  it("ignores events a snapshot row already reflects, and takes those after it", () => {
    const cut = Math.floor(stream.length / 2);
    const half = apply(emptyBoard, stream.slice(0, cut));
    // The API's rows as of the cut: what the projector had folded.
    const rows = half.ids.map((id) => half.runs[id] as BoardRun);
    const fromSnapshot = boardReducer(emptyBoard, { type: "snapshot", runs: rows });
    const resumed = apply(fromSnapshot, stream.slice(resumeAfter(fromSnapshot) - 5));
    const live = apply(emptyBoard, stream);
    for (const id of live.ids) expect(resumed.runs[id], id).toEqual(live.runs[id]);
  });

  it("keeps a newer folded run over an older row, and fills a placeholder's request from the row", () => {
    const s1 = apply(emptyBoard, runA.slice(2, 5)); // no run.requested: a placeholder
    expect(placeholders(s1)).toEqual(["01JAAAAAAAAAAAAAAAAAAAAAAA"]);
    const row = apply(emptyBoard, runA.slice(0, 2)).runs["01JAAAAAAAAAAAAAAAAAAAAAAA"] as BoardRun;
    const s2 = boardReducer(s1, { type: "upsert", run: { ...row, name: "brave-otter" } });
    expect(s2.runs["01JAAAAAAAAAAAAAAAAAAAAAAA"]).toMatchObject({ status: "running", agent: "claude", name: "brave-otter" });
    expect(placeholders(s2)).toEqual([]);
  });

  it("fences a late event of an abandoned attempt and starts afresh on a new one", () => {
    const m = new EventMaker("01JDDDDDDDDDDDDDDDDDDDDDDD");
    const evs = [
      m.make("run.requested", { spec: { agent: "claude", prompt: "x", workspace: "/w" } }),
      m.make("run.queued", { attempt: 1, priority: 0, provider: "claude", pool: "default", position: 1 }, 1),
      m.make("run.started", { attempt: 1, runnerId: "r1", host: "h1", pid: 1, argv: [], cwd: "/w" }, 1),
      m.make("run.failed", { attempt: 1, reason: "runner_lost", message: "gone", retryable: true }, 1),
      m.make("run.retry_scheduled", { attempt: 1, nextAttempt: 2, notBefore: "2026-11-21T10:05:00Z", backoffMs: 1000, reason: "runner_lost" }, 1),
      m.make("run.queued", { attempt: 2, priority: 0, provider: "claude", pool: "default", position: 1 }, 2),
      m.make("run.started", { attempt: 2, runnerId: "r2", host: "h2", pid: 2, argv: [], cwd: "/w" }, 2),
      m.make("run.cli_exit", { attempt: 1, exitCode: 137, durationMs: 5 }, 1),
    ];
    const r = evs.reduce(foldRun, placeholder("01JDDDDDDDDDDDDDDDDDDDDDDD", evs[0] as RunEvent));
    expect(r).toMatchObject({ status: "running", attempt: 2, runnerId: "r2", host: "h2", exitCode: null, reason: null, lastSeq: evs.length });
  });

  it("puts an interactive run in awaiting_input and out of it when input is accepted", () => {
    const m = new EventMaker("01JEEEEEEEEEEEEEEEEEEEEEEE");
    let s = apply(emptyBoard, [
      m.make("run.requested", { spec: { agent: "claude", prompt: "x", workspace: "/w", interactive: true } }),
      m.make("run.started", { attempt: 1, runnerId: "r1", host: "h1", pid: 1, argv: [], cwd: "/w" }, 1),
      m.make("run.awaiting_input", { attempt: 1 }, 1),
    ]);
    expect(s.runs["01JEEEEEEEEEEEEEEEEEEEEEEE"]?.status).toBe("awaiting_input");
    s = apply(s, [m.make("session.input_accepted", { attempt: 1, inputId: "i", text: "go on" }, 1)]);
    expect(s.runs["01JEEEEEEEEEEEEEEEEEEEEEEE"]?.status).toBe("running");
  });
});

describe("the board under load", () => {
  it("folds a frame of events from 20 live runs into a board of 1,000 within a frame's budget", () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `01JLOAD${String(i).padStart(19, "0")}`);
    let s = emptyBoard;
    const makers = ids.map((id) => new EventMaker(id));
    s = apply(
      s,
      makers.map((m, i) => m.make("run.requested", { spec: { agent: "claude", prompt: `task ${i}`, workspace: "/w" } })),
    );
    const live = makers.slice(0, 20);
    let seq = 10_000;
    const frame = () =>
      live.flatMap((m) => [
        { ...m.make("run.chunk.stdout", { attempt: 1, seq: 1, offset: 0, data: "x\n", lines: 1 }, 1), seq: ++seq },
        { ...m.make("run.semantic", { attempt: 1, kind: "usage", usage: { model: "opus", inputTokens: seq, outputTokens: 1, costUsd: 0.01 } }, 1), seq: ++seq },
      ]);
    const times: number[] = [];
    for (let f = 0; f < 60; f++) {
      const batch = frame();
      const t0 = performance.now();
      s = apply(s, batch);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const p50 = times[30] as number;
    const max = times[59] as number;
    console.info(`board of 1000 runs, 20 live, 40 events a frame: p50 ${p50.toFixed(2)} ms, max ${max.toFixed(2)} ms (reducer only; shared 2-core machine)`);
    expect(s.ids).toHaveLength(1000);
    expect(s.usage[ids[0] as string]?.costUsd).toBeCloseTo(0.01, 9);
    expect(p50).toBeLessThan(50);
  });
});
