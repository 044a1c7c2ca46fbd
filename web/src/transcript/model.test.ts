// @vitest-environment node
import { describe, expect, it } from "vitest";
import { buildTranscript, foldTranscript, emptyTranscript, usageTotals, type Item } from "./model";
import { EventMaker, fixtureNames, fixtureRun, semanticFixture } from "../test/fixtures";

const kinds = (items: Item[]) => items.map((i) => i.kind);
const only = <K extends Item["kind"]>(items: Item[], kind: K) => items.filter((i): i is Extract<Item, { kind: K }> => i.kind === kind);

describe("transcript of real CLI output", () => {
  it("Claude Code: a Bash tool call with its input and result, the answer, usage from the result", () => {
    const t = buildTranscript(fixtureRun("claude_bash_tool"));
    const talk = t.items.filter((i) => i.kind !== "event");
    expect(kinds(talk)).toEqual(["prompt", "assistant", "tool", "assistant", "result"]);
    const [tool] = only(t.items, "tool");
    expect(tool).toMatchObject({
      name: "Bash",
      toolUseId: "toolu_c265ff4030e245c9bd954396",
      input: { command: "echo hi", description: "Run requested command" },
      status: "done",
      result: "hi",
    });
    const [result] = only(t.items, "result");
    expect(result).toMatchObject({ text: "Tool said: hi", isError: false, repeatsLast: true });
    const u = usageTotals(t.usage);
    expect(u.inputTokens).toBe(309);
    expect(u.outputTokens).toBe(36);
    expect(u.costUsd).toBeCloseTo(0.002445, 9);
    expect(t.sessions).toEqual(["cfce1256-5ceb-4425-b0ed-18cf7759f13f"]);
    expect(t.semantic).toBeGreaterThan(0);
    expect(only(t.items, "event").at(-1)).toMatchObject({ type: "run.completed", tone: "good" });
  });

  it("Claude Code: a hook's denial is the tool call's guard decision, and the error result stays with the call", () => {
    const events = fixtureRun("claude_hook_json_deny", {
      afterLine: {
        3: (m) => [
          m.make("run.policy_audit", { attempt: 1, command: "echo forbidden", decision: "block", rule: "custom:no-forbidden", reason: "not here", origin: "hook", agent: "claude" }, 1),
        ],
      },
    });
    const t = buildTranscript(events);
    const [tool] = only(t.items, "tool");
    expect(tool?.status).toBe("error");
    expect(tool?.result).toBe("blocked by test hook (json)");
    expect(tool?.guard).toHaveLength(1);
    expect(tool?.guard[0]).toMatchObject({ decision: "block", rule: "custom:no-forbidden", command: "echo forbidden" });
    expect(only(t.items, "guard")).toHaveLength(0);
  });

  it("a guard decision that arrives before its tool call waits for it", () => {
    const events = fixtureRun("claude_hook_exit2_block", {
      afterLine: {
        2: (m) => [m.make("run.policy_audit", { attempt: 1, command: "echo forbidden", decision: "block", rule: "git.reset_hard", origin: "hook" }, 1)],
      },
    });
    const t = buildTranscript(events);
    const [tool] = only(t.items, "tool");
    const [guard] = only(t.items, "guard");
    expect(tool?.input).toMatchObject({ command: "echo forbidden" });
    expect(tool?.guard.map((g) => g.rule)).toEqual(["git.reset_hard"]);
    expect(guard?.attachedTo).toBe(tool?.toolUseId);
  });

  it("Claude Code: an API error is a fatal error item and the run fails with api_error", () => {
    const t = buildTranscript(fixtureRun("claude_http400"));
    const errors = only(t.items, "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.text).toContain("API Error: 400");
    expect(errors[0]?.fatal).toBe(true);
    expect(only(t.items, "result")[0]).toMatchObject({ isError: true });
    expect(only(t.items, "event").at(-1)?.text).toContain("Failed (api_error)");
  });

  it("Claude Code: API retries are non-fatal errors", () => {
    const t = buildTranscript(fixtureRun("claude_http401_retrying"));
    const errors = only(t.items, "error");
    expect(errors.length).toBeGreaterThan(1);
    expect(errors.every((e) => e.subtype === "api_retry" && !e.fatal)).toBe(true);
    expect(errors[0]?.text).toMatch(/^API retry 1\/\d+/);
  });

  it("Claude Code: the turn limit ends in an error result", () => {
    const t = buildTranscript(fixtureRun("claude_max_turns"));
    expect(only(t.items, "result")[0]).toMatchObject({ isError: true, subtype: "error_max_turns" });
    expect(only(t.items, "event").at(-1)?.text).toContain("max_turns");
  });

  it("Claude Code over stdin: each turn's user text and answer in order", () => {
    const t = buildTranscript(fixtureRun("claude_stdin_stream_json"));
    const talk = kinds(t.items.filter((i) => i.kind !== "event" && i.kind !== "prompt"));
    expect(talk.filter((k) => k === "result")).toHaveLength(2);
    expect(talk).toContain("user");
    expect(only(t.items, "tool")[0]?.status).toBe("done");
  });

  it("Codex: reasoning is thinking, a file change is an apply_patch call, usage attributed to the run's model", () => {
    const t = buildTranscript(fixtureRun("codex_patch_reasoning"));
    expect(kinds(t.items.filter((i) => i.kind !== "event"))).toEqual(["prompt", "thinking", "assistant", "tool", "assistant", "result"]);
    const [tool] = only(t.items, "tool");
    expect(tool?.name).toBe("apply_patch");
    expect(tool?.status).toBe("done");
    expect(Object.keys(t.usage)).toEqual(["1|gpt-5-codex"]);
  });

  it("Codex: a shell command with its aggregated output", () => {
    const t = buildTranscript(fixtureRun("codex_exec_command"));
    const [tool] = only(t.items, "tool");
    expect(tool?.name).toBe("shell");
    expect(typeof (tool?.input as { command: string }).command).toBe("string");
    expect(tool?.result).toBeTruthy();
  });

  it("Codex: reconnect notices are non-fatal, an HTTP 401 is fatal", () => {
    const refused = only(buildTranscript(fixtureRun("codex_conn_refused")).items, "error");
    expect(refused.some((e) => e.subtype === "reconnecting" && !e.fatal)).toBe(true);
    const denied = only(buildTranscript(fixtureRun("codex_http401")).items, "error");
    expect(denied.some((e) => e.fatal && e.text.includes("401"))).toBe(true);
  });

  it("Gemini CLI: streamed deltas become whole messages around a shell tool call", () => {
    const t = buildTranscript(fixtureRun("gemini_yolo_shell"));
    const [tool] = only(t.items, "tool");
    expect(tool?.name).toBe("run_shell_command");
    expect(tool?.status).toBe("done");
    expect(tool?.result).toContain("hi");
    expect(only(t.items, "assistant").length).toBeGreaterThanOrEqual(2);
    expect(usageTotals(t.usage).inputTokens).toBeGreaterThan(0);
  });

  it("every fixture folds the same in one batch and one event at a time", () => {
    for (const name of fixtureNames()) {
      const events = fixtureRun(name);
      const whole = buildTranscript(events);
      let step = emptyTranscript;
      for (const ev of events) step = foldTranscript(step, [ev]);
      expect(step.items, name).toEqual(whole.items);
      expect(step.usage, name).toEqual(whole.usage);
      // Every semantic event the parser made shows up (none is dropped).
      const f = semanticFixture(name);
      const made = f.lines.reduce((n, l) => n + l.events.length, 0) + f.flush.length;
      expect(whole.semantic, name).toBe(made);
      expect(whole.stdout.join(""), name).not.toBe("");
    }
  });

  it("structured output and session input are items of their own", () => {
    const m = new EventMaker();
    const t = buildTranscript([
      m.make("session.input_accepted", { attempt: 1, inputId: "in-1", text: "and now the tests" }, 1),
      m.make("run.structured_output", { attempt: 1, output: { ok: true, files: 2 } }, 1),
      m.make("run.structured_output_invalid", { attempt: 1, errors: ["missing property files"] }, 1),
    ]);
    expect(t.items).toMatchObject([
      { kind: "user", text: "and now the tests", source: "input" },
      { kind: "structured", output: { ok: true, files: 2 } },
      { kind: "structured_invalid", errors: ["missing property files"] },
    ]);
  });
});
