// Runs made from real agent CLI transcripts: the transcript's lines as
// stdout chunks, each followed by the run.semantic events the runner's
// parser made of it (fixtures/semantic, written by the runner's
// TestDashboardFixturesMatchTheParsers from the same transcripts), framed by
// the lifecycle events a run goes through.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { RunEvent } from "../api/types";
import type { RunSemantic } from "../api/events.gen";

export const fixturesDir = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");

export interface SemanticFixture {
  transcript: string;
  adapter: string;
  lines: { line: number; events: RunSemantic[] }[];
  flush: RunSemantic[];
  ending: { exitCode: number; reason: string; message: string; result: string } | null;
}

export function semanticFixture(name: string): SemanticFixture {
  return JSON.parse(readFileSync(path.join(fixturesDir, "semantic", `${name}.json`), "utf8")) as SemanticFixture;
}

export function transcriptLines(name: string): string[] {
  const text = readFileSync(path.join(fixturesDir, "transcripts", `${name}.ndjson`), "utf8");
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export function fixtureNames(): string[] {
  return readdirSync(path.join(fixturesDir, "semantic"))
    .filter((f) => f.endsWith(".json"))
    .map((f) => f.slice(0, -".json".length))
    .sort();
}

export const fixtureRunId = "01JFIXTURERUN0000000000000";

/** EventMaker numbers events as the event log does and stamps them a second apart. */
export class EventMaker {
  seq = 0;
  private t = Date.parse("2026-11-21T10:00:00Z");

  constructor(readonly runId: string = fixtureRunId) {}

  make(type: string, data: Record<string, unknown>, attempt?: number): RunEvent {
    this.seq++;
    this.t += 1000;
    const source = type.startsWith("run.chunk") || type === "run.semantic" ? "phantom/runner/test-1" : "phantom/scheduler/test-1";
    const ev: RunEvent = {
      seq: this.seq,
      id: `ev-${this.runId.slice(-6)}-${this.seq}`,
      type,
      source,
      time: new Date(this.t).toISOString(),
      runId: this.runId,
      data: { runId: this.runId, ...data },
    };
    if (attempt !== undefined) ev.attempt = attempt;
    return ev;
  }
}

export interface FixtureRunOptions {
  prompt?: string;
  /** Events to put right after a line's events (a guard decision, say), by line number. */
  afterLine?: Record<number, (m: EventMaker) => RunEvent[]>;
}

/** fixtureRun is the whole event log of a run whose agent printed the named transcript. */
export function fixtureRun(name: string, opts: FixtureRunOptions = {}, m = new EventMaker()): RunEvent[] {
  const f = semanticFixture(name);
  const lines = transcriptLines(name);
  const agent = f.adapter;
  const out: RunEvent[] = [
    m.make("run.requested", { spec: { agent, prompt: opts.prompt ?? "Run `echo hi` and tell me what it said.", workspace: "/home/dev/project" } }),
    m.make("run.queued", { attempt: 1, priority: 0, provider: agent, pool: "default", position: 1 }, 1),
    m.make("run.dispatched", { attempt: 1, pool: "default", provider: agent }, 1),
    m.make("run.started", { attempt: 1, runnerId: "runner-1", host: "test-host", pid: 4242, argv: [agent], cwd: "/home/dev/project" }, 1),
  ];
  const byLine = new Map(f.lines.map((l) => [l.line, l.events]));
  let offset = 0;
  lines.forEach((line, i) => {
    const n = i + 1;
    out.push(m.make("run.chunk.stdout", { attempt: 1, seq: n, offset, data: `${line}\n`, lines: 1 }, 1));
    offset += line.length + 1;
    for (const s of byLine.get(n) ?? []) out.push(m.make("run.semantic", { ...s }, 1));
    for (const ev of opts.afterLine?.[n]?.(m) ?? []) out.push(ev);
  });
  for (const s of f.flush) out.push(m.make("run.semantic", { ...s }, 1));
  if (f.ending) {
    out.push(m.make("run.cli_exit", { attempt: 1, exitCode: f.ending.exitCode, durationMs: 4200 }, 1));
    if (f.ending.reason === "") {
      out.push(m.make("run.completed", { attempt: 1, exitCode: 0, durationMs: 4300, result: f.ending.result }, 1));
    } else {
      out.push(m.make("run.failed", { attempt: 1, reason: f.ending.reason, message: f.ending.message, exitCode: f.ending.exitCode, durationMs: 4300 }, 1));
    }
  } else {
    // The transcript stops while the CLI still retries: someone canceled it.
    out.push(m.make("run.canceled", { attempt: 1, reason: "canceled", by: "test" }, 1));
  }
  return out;
}

/** sseFrames renders events as the gateway writes them on an SSE stream. */
export function sseFrames(events: readonly RunEvent[]): string {
  return events.map((ev) => `id: ${ev.seq}\nevent: run_event\ndata: ${JSON.stringify(ev)}\n\n`).join("");
}
