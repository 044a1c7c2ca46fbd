// The transcript of a run as a conversation, folded from its events:
// run.semantic events (what the runner's parsers made of the agent CLI's
// output: messages, thinking, tool calls and results, errors, usage, the
// result), the safety guard's decisions (run.policy_audit, attached to the
// tool call they judged), structured output, session input, and the run's
// lifecycle (queued, started, retried, ended). The fold is incremental: a
// batch of new events costs what it adds, so a stream of 10,000 events
// stays cheap.
import type { EventPayloads, RunEvent } from "../api/types";
import type { RunSemantic, Usage } from "../api/events.gen";

export type Tone = "info" | "good" | "warn" | "bad";
export type PolicyDecision = EventPayloads["run.policy_audit"] & { seq: number };

interface Base {
  /** key is stable for the item's life (React key, virtual list key). */
  key: string;
  seq: number;
  attempt: number;
}

export type Item =
  | (Base & { kind: "prompt"; text: string })
  | (Base & { kind: "user"; text: string; source: "agent" | "input" })
  | (Base & { kind: "assistant"; text: string; model?: string })
  | (Base & { kind: "thinking"; text: string })
  | (Base & {
      kind: "tool";
      toolUseId: string;
      name: string;
      input: unknown;
      status: "running" | "done" | "error";
      result?: string;
      guard: PolicyDecision[];
    })
  | (Base & { kind: "guard"; decision: PolicyDecision; attachedTo?: string })
  | (Base & { kind: "error"; text: string; subtype?: string; fatal: boolean })
  | (Base & { kind: "result"; text: string; isError: boolean; subtype?: string; repeatsLast: boolean })
  | (Base & { kind: "structured"; output: unknown })
  | (Base & { kind: "structured_invalid"; errors: string[] })
  | (Base & { kind: "event"; tone: Tone; text: string; type: string });

export interface UsageTotals {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheCreationTokens: number;
  reasoningTokens: number;
  costUsd: number | null;
  costEstimated: boolean;
}

export interface Transcript {
  items: Item[];
  /** index of each tool call's item, by tool use id. */
  tools: ReadonlyMap<string, number>;
  /** Guard decisions not matched to a tool call yet, by command (index of their guard item). */
  unmatched: ReadonlyMap<string, number[]>;
  /** The latest cumulative usage per attempt and model. */
  usage: Readonly<Record<string, Usage>>;
  sessions: string[];
  /** semantic counts run.semantic events: 0 means the agent's output is not parsed (raw). */
  semantic: number;
  stdout: string[];
  stderr: string[];
  lastAssistant: string;
  lastSeq: number;
}

export const emptyTranscript: Transcript = {
  items: [],
  tools: new Map(),
  unmatched: new Map(),
  usage: {},
  sessions: [],
  semantic: 0,
  stdout: [],
  stderr: [],
  lastAssistant: "",
  lastSeq: 0,
};

/**
 * passingErrors are the error subtypes the agent goes on after: Claude
 * Code's API retries, Codex's reconnects, Gemini CLI's warnings. Other
 * errors end the turn, whether or not the parser marked them (Claude Code
 * reports an API failure as a synthetic message whose subtype is the
 * error's kind).
 */
const passingErrors = new Set(["api_retry", "reconnecting", "warning"]);

/** commandOf reads the shell command a tool call runs, if it runs one. */
export function commandOf(input: unknown): string | undefined {
  if (input && typeof input === "object" && !Array.isArray(input)) {
    const c = (input as Record<string, unknown>).command;
    if (typeof c === "string") return c;
    if (Array.isArray(c) && c.every((x) => typeof x === "string")) return c.join(" ");
  }
  return undefined;
}

/** usageTotals sums the latest usage of every attempt and model. */
export function usageTotals(usage: Readonly<Record<string, Usage>>): UsageTotals {
  const t: UsageTotals = {
    inputTokens: 0,
    outputTokens: 0,
    cacheReadTokens: 0,
    cacheCreationTokens: 0,
    reasoningTokens: 0,
    costUsd: null,
    costEstimated: false,
  };
  for (const u of Object.values(usage)) {
    t.inputTokens += u.inputTokens;
    t.outputTokens += u.outputTokens;
    t.cacheReadTokens += u.cacheReadTokens ?? 0;
    t.cacheCreationTokens += u.cacheCreationTokens ?? 0;
    t.reasoningTokens += u.reasoningTokens ?? 0;
    if (typeof u.costUsd === "number") t.costUsd = (t.costUsd ?? 0) + u.costUsd;
    if (u.costEstimated) t.costEstimated = true;
  }
  return t;
}

function seconds(ms: number | undefined): string {
  if (ms === undefined) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

/** Mutable working copy of a transcript while a batch is folded. */
class Builder {
  items: Item[];
  tools: Map<string, number>;
  unmatched: Map<string, number[]>;
  usage: Record<string, Usage>;
  sessions: string[];
  semantic: number;
  stdout: string[];
  stderr: string[];
  lastAssistant: string;
  lastSeq: number;

  constructor(t: Transcript) {
    this.items = t.items.slice();
    this.tools = new Map(t.tools);
    this.unmatched = new Map(t.unmatched);
    this.usage = t.usage;
    this.sessions = t.sessions;
    this.semantic = t.semantic;
    this.stdout = t.stdout.slice();
    this.stderr = t.stderr.slice();
    this.lastAssistant = t.lastAssistant;
    this.lastSeq = t.lastSeq;
  }

  done(): Transcript {
    return {
      items: this.items,
      tools: this.tools,
      unmatched: this.unmatched,
      usage: this.usage,
      sessions: this.sessions,
      semantic: this.semantic,
      stdout: this.stdout,
      stderr: this.stderr,
      lastAssistant: this.lastAssistant,
      lastSeq: this.lastSeq,
    };
  }

  push(item: Item) {
    this.items.push(item);
  }

  event(ev: RunEvent, tone: Tone, text: string) {
    this.push({ key: `e${ev.seq}`, seq: ev.seq, attempt: ev.attempt ?? 0, kind: "event", tone, type: ev.type, text });
  }

  /** attach puts a guard decision on a tool call's item (a new item object: the list re-renders it). */
  attach(toolIdx: number, d: PolicyDecision) {
    const tool = this.items[toolIdx];
    if (tool?.kind !== "tool") return;
    this.items[toolIdx] = { ...tool, guard: [...tool.guard, d] };
  }

  apply(ev: RunEvent) {
    if (ev.seq > this.lastSeq) this.lastSeq = ev.seq;
    const attempt = ev.attempt ?? 0;
    switch (ev.type) {
      case "run.semantic":
        this.semanticEvent(ev, ev.data as RunSemantic);
        return;
      case "run.policy_audit":
        this.audit(ev, ev.data as EventPayloads["run.policy_audit"]);
        return;
      case "run.chunk.stdout":
        this.stdout.push((ev.data as EventPayloads["run.chunk.stdout"]).data);
        return;
      case "run.chunk.stderr":
        this.stderr.push((ev.data as EventPayloads["run.chunk.stderr"]).data);
        return;
      case "run.requested": {
        const p = ev.data as EventPayloads["run.requested"];
        if (p.spec.prompt) this.push({ key: `p${ev.seq}`, seq: ev.seq, attempt, kind: "prompt", text: p.spec.prompt });
        return;
      }
      case "session.input_accepted": {
        const p = ev.data as EventPayloads["session.input_accepted"];
        this.push({ key: `i${ev.seq}`, seq: ev.seq, attempt, kind: "user", text: p.text, source: "input" });
        return;
      }
      case "run.structured_output": {
        const p = ev.data as EventPayloads["run.structured_output"];
        this.push({ key: `o${ev.seq}`, seq: ev.seq, attempt, kind: "structured", output: p.output });
        return;
      }
      case "run.structured_output_invalid": {
        const p = ev.data as EventPayloads["run.structured_output_invalid"];
        this.push({ key: `o${ev.seq}`, seq: ev.seq, attempt, kind: "structured_invalid", errors: p.errors });
        return;
      }
    }
    this.lifecycle(ev);
  }

  lifecycle(ev: RunEvent) {
    const d = ev.data as Record<string, unknown>;
    switch (ev.type) {
      case "run.queued": {
        const p = d as unknown as EventPayloads["run.queued"];
        this.event(ev, "info", `Queued at position ${p.position} (priority ${p.priority}, provider ${p.provider})`);
        return;
      }
      case "run.rejected": {
        const p = d as unknown as EventPayloads["run.rejected"];
        this.event(ev, "bad", `Rejected (${p.reason}): ${p.message}`);
        return;
      }
      case "run.dispatched": {
        const p = d as unknown as EventPayloads["run.dispatched"];
        this.event(ev, "info", `Attempt ${p.attempt} dispatched to pool ${p.pool}`);
        return;
      }
      case "run.worktree_prepared": {
        const p = d as unknown as EventPayloads["run.worktree_prepared"];
        this.event(ev, "info", `${p.reused ? "Reusing" : "Prepared"} worktree ${p.path} on branch ${p.branch}`);
        return;
      }
      case "run.started": {
        const p = d as unknown as EventPayloads["run.started"];
        this.event(ev, "info", `Started on ${p.host} (pid ${p.pid}) in ${p.cwd}`);
        return;
      }
      case "run.progress": {
        const p = d as unknown as EventPayloads["run.progress"];
        this.event(ev, "info", p.message ? `${p.phase}: ${p.message}` : p.phase);
        return;
      }
      case "run.compatibility_warning": {
        const p = d as unknown as EventPayloads["run.compatibility_warning"];
        this.event(ev, "warn", `Option ${p.option} dropped: ${p.reason}`);
        return;
      }
      case "run.warning": {
        const p = d as unknown as EventPayloads["run.warning"];
        this.event(ev, "warn", `${p.code}: ${p.message}`);
        return;
      }
      case "run.cli_missing": {
        const p = d as unknown as EventPayloads["run.cli_missing"];
        this.event(ev, "bad", `${p.command} is not installed on the runner${p.install ? `: ${p.install}` : ""}`);
        return;
      }
      case "run.cwd_missing": {
        const p = d as unknown as EventPayloads["run.cwd_missing"];
        this.event(ev, "bad", `The working directory ${p.cwd} does not exist on the runner`);
        return;
      }
      case "run.cli_exit": {
        const p = d as unknown as EventPayloads["run.cli_exit"];
        const how = p.signal ? `by signal ${p.signal}` : `with code ${p.exitCode}`;
        this.event(ev, p.exitCode === 0 ? "info" : "warn", `The agent exited ${how} after ${seconds(p.durationMs)}`);
        return;
      }
      case "run.paused":
        this.event(ev, "warn", `Paused${d.by ? ` by ${String(d.by)}` : ""}`);
        return;
      case "run.resumed":
        this.event(ev, "info", `Resumed${d.by ? ` by ${String(d.by)}` : ""}`);
        return;
      case "run.retry_scheduled": {
        const p = d as unknown as EventPayloads["run.retry_scheduled"];
        this.event(ev, "warn", `Attempt ${p.nextAttempt} at ${localTime(p.notBefore)} after ${p.reason} (backoff ${seconds(p.backoffMs)})`);
        return;
      }
      case "run.completed": {
        const p = d as unknown as EventPayloads["run.completed"];
        this.event(ev, "good", `Completed in ${seconds(p.durationMs)}`);
        return;
      }
      case "run.failed": {
        const p = d as unknown as EventPayloads["run.failed"];
        this.event(ev, p.retryable ? "warn" : "bad", `${p.retryable ? "Attempt failed" : "Failed"} (${p.reason}): ${p.message}`);
        return;
      }
      case "run.canceled": {
        const p = d as unknown as EventPayloads["run.canceled"];
        this.event(ev, "warn", `Canceled${p.by ? ` by ${p.by}` : ""}${p.reason ? ` (${p.reason})` : ""}`);
        return;
      }
      case "run.archived":
        this.event(ev, "info", "Archived");
        return;
      case "run.checkpoint_created": {
        const p = d as unknown as EventPayloads["run.checkpoint_created"];
        this.event(ev, "info", `Checkpoint ${p.checkpointId} (${p.commit.slice(0, 10)})${p.message ? `: ${p.message}` : ""}`);
        return;
      }
      case "run.checkpoint_restored": {
        const p = d as unknown as EventPayloads["run.checkpoint_restored"];
        this.event(ev, "warn", `Restored checkpoint ${p.checkpointId} (${p.commit.slice(0, 10)})`);
        return;
      }
      case "session.opened":
        this.event(ev, "info", "Session open: the agent reads further input");
        return;
      case "session.closed":
        this.event(ev, "info", `Session closed${d.reason ? ` (${String(d.reason)})` : ""}`);
        return;
    }
    if (ev.type.endsWith("awaiting_input")) this.event(ev, "warn", "Waiting for input");
  }

  semanticEvent(ev: RunEvent, s: RunSemantic) {
    this.semantic++;
    const base = { seq: ev.seq, attempt: s.attempt ?? ev.attempt ?? 0 };
    switch (s.kind) {
      case "message":
        if (s.role === "user") {
          this.push({ ...base, key: `s${ev.seq}`, kind: "user", text: s.text ?? "", source: "agent" });
        } else {
          this.push({ ...base, key: `s${ev.seq}`, kind: "assistant", text: s.text ?? "", model: s.model });
          this.lastAssistant = s.text ?? "";
        }
        return;
      case "thinking":
        this.push({ ...base, key: `s${ev.seq}`, kind: "thinking", text: s.text ?? "" });
        return;
      case "tool_use": {
        const id = s.toolUseId ?? `seq${ev.seq}`;
        if (this.tools.has(id)) return;
        const idx = this.items.length;
        this.push({
          ...base,
          key: `t${id}`,
          kind: "tool",
          toolUseId: id,
          name: s.toolName ?? "tool",
          input: s.toolInput ?? null,
          status: "running",
          guard: [],
        });
        this.tools.set(id, idx);
        const cmd = commandOf(s.toolInput);
        const waiting = cmd === undefined ? undefined : this.unmatched.get(cmd);
        if (cmd !== undefined && waiting && waiting.length > 0) {
          const guardIdx = waiting[0] as number;
          this.unmatched.set(cmd, waiting.slice(1));
          const g = this.items[guardIdx];
          if (g?.kind === "guard") {
            this.items[guardIdx] = { ...g, attachedTo: id };
            this.attach(idx, g.decision);
          }
        }
        return;
      }
      case "tool_result": {
        const id = s.toolUseId ?? "";
        const idx = this.tools.get(id);
        const tool = idx === undefined ? undefined : this.items[idx];
        if (idx === undefined || tool?.kind !== "tool") {
          // A result without its call (the call was in a line too long to parse): show it alone.
          this.push({
            ...base,
            key: `s${ev.seq}`,
            kind: "tool",
            toolUseId: id,
            name: s.toolName ?? "tool",
            input: null,
            status: s.isError ? "error" : "done",
            result: s.text ?? "",
            guard: [],
          });
          return;
        }
        this.items[idx] = { ...tool, status: s.isError ? "error" : "done", result: s.text ?? "" };
        return;
      }
      case "error":
        this.push({
          ...base,
          key: `s${ev.seq}`,
          kind: "error",
          text: s.text ?? "",
          subtype: s.subtype,
          fatal: !!s.isError || !passingErrors.has(s.subtype ?? ""),
        });
        return;
      case "result":
        this.push({
          ...base,
          key: `s${ev.seq}`,
          kind: "result",
          text: s.text ?? "",
          isError: !!s.isError,
          subtype: s.subtype,
          repeatsLast: (s.text ?? "").trim() === this.lastAssistant.trim(),
        });
        return;
      case "usage":
        if (s.usage) {
          this.usage = { ...this.usage, [`${base.attempt}|${s.usage.model ?? s.model ?? ""}`]: s.usage };
        }
        return;
      case "session":
        if (s.sessionId && !this.sessions.includes(s.sessionId)) this.sessions = [...this.sessions, s.sessionId];
        return;
    }
  }

  /**
   * audit places a guard decision. A hook's decision is about a tool call's
   * command: it goes on the latest call running that command that has no
   * decision yet, or waits (shown alone) for that call to arrive, since the
   * decision and the call reach the log from different processes.
   */
  audit(ev: RunEvent, a: EventPayloads["run.policy_audit"]) {
    const d: PolicyDecision = { ...a, seq: ev.seq };
    if (a.origin === "hook" || a.origin === undefined) {
      for (let i = this.items.length - 1, n = 0; i >= 0 && n < 200; i--, n++) {
        const it = this.items[i];
        if (it?.kind === "tool" && it.guard.length === 0 && commandOf(it.input) === a.command) {
          this.attach(i, d);
          return;
        }
      }
    }
    const idx = this.items.length;
    this.push({ key: `g${ev.seq}`, seq: ev.seq, attempt: a.attempt ?? ev.attempt ?? 0, kind: "guard", decision: d });
    if (a.origin === "hook" || a.origin === undefined) {
      this.unmatched.set(a.command, [...(this.unmatched.get(a.command) ?? []), idx]);
    }
  }
}

/** foldTranscript applies events (in stream order) to a transcript. */
export function foldTranscript(t: Transcript, events: readonly RunEvent[]): Transcript {
  if (events.length === 0) return t;
  const b = new Builder(t);
  for (const ev of events) b.apply(ev);
  return b.done();
}

/** buildTranscript folds a whole log. */
export function buildTranscript(events: readonly RunEvent[]): Transcript {
  return foldTranscript(emptyTranscript, events);
}
