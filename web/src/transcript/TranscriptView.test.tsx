import { act, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { EventMaker, fixtureRun } from "../test/fixtures";
import { buildTranscript } from "./model";
import { TranscriptView } from "./TranscriptView";
import { RawOutput } from "./RawOutput";
import type { RunEvent } from "../api/types";

describe("the transcript view", () => {
  it("shows a Claude Code run as a conversation: prompt, text, the tool call with input, result and the guard's denial", async () => {
    const t = buildTranscript(
      fixtureRun("claude_hook_json_deny", {
        prompt: "Run `echo forbidden`.",
        afterLine: {
          3: (m) => [m.make("run.policy_audit", { attempt: 1, command: "echo forbidden", decision: "block", rule: "custom:no-echo", reason: "echo is not allowed here", origin: "hook", agent: "claude" }, 1)],
        },
      }),
    );
    render(<TranscriptView transcript={t} agent="claude" />);
    expect(screen.getByText("Run `echo forbidden`.")).toBeInTheDocument();
    expect(screen.getByText("I'll run that.")).toBeInTheDocument();
    const tool = screen.getByText("Bash").closest(".tool") as HTMLElement;
    expect(within(tool).getAllByText("echo forbidden")[0]).toHaveClass("tool-summary");
    expect(within(tool).getByText("guard: blocked (custom:no-echo)")).toBeInTheDocument();
    expect(within(tool).getByText(/echo is not allowed here/)).toBeInTheDocument();
    expect(within(tool).getByText("blocked by test hook (json)")).toBeInTheDocument();
    expect(within(tool).getByText("error")).toBeInTheDocument();
    // The input is one click away.
    const input = within(tool).getByText("Input").closest("details") as HTMLDetailsElement;
    expect(input.open).toBe(false);
    await userEvent.click(within(tool).getByText("Input"));
    expect(input.open).toBe(true);
    expect(input.textContent).toContain('"description": "Run requested command"');
  });

  it("keeps Codex's reasoning collapsed and shows its file change as apply_patch", () => {
    const t = buildTranscript(fixtureRun("codex_patch_reasoning"));
    render(<TranscriptView transcript={t} agent="codex" />);
    const thinking = screen.getByText(/^Thinking \(/).closest("details") as HTMLDetailsElement;
    expect(thinking.open).toBe(false);
    expect(screen.getByText("apply_patch")).toBeInTheDocument();
    expect(screen.getAllByText(/gpt-5-codex/).length).toBeGreaterThan(0);
  });

  it("shows Gemini CLI's shell call and its answer", () => {
    const t = buildTranscript(fixtureRun("gemini_yolo_shell"));
    render(<TranscriptView transcript={t} agent="gemini" />);
    expect(screen.getByText("run_shell_command")).toBeInTheDocument();
    expect(screen.getByText("Completed in 4.3 s")).toBeInTheDocument();
  });

  it("shows an API failure as an alert and the run's failure", () => {
    const t = buildTranscript(fixtureRun("claude_http401_noretry"));
    render(<TranscriptView transcript={t} agent="claude" />);
    expect(screen.getAllByRole("alert")[0]).toHaveTextContent("API Error: 401");
    expect(screen.getByText(/^Failed \(api_error\)/)).toBeInTheDocument();
  });

  it("renders 10,000 events with a bounded number of rows in the page", async () => {
    const m = new EventMaker();
    const events: RunEvent[] = [];
    for (let i = 0; i < 2500; i++) {
      const id = `toolu_${i}`;
      events.push(m.make("run.semantic", { attempt: 1, kind: "message", role: "assistant", text: `Step ${i}: checking the next file.`, messageId: `m${i}` }, 1));
      events.push(m.make("run.semantic", { attempt: 1, kind: "tool_use", toolUseId: id, toolName: "Bash", toolInput: { command: `cat file${i}.go` } }, 1));
      events.push(m.make("run.semantic", { attempt: 1, kind: "tool_result", toolUseId: id, text: `package main // ${i}` }, 1));
      events.push(m.make("run.chunk.stdout", { attempt: 1, seq: i + 1, offset: 0, data: `{"line":${i}}\n`, lines: 1 }, 1));
    }
    const started = performance.now();
    const t = buildTranscript(events);
    const foldMs = performance.now() - started;
    expect(t.items).toHaveLength(5000);
    const { container } = render(<TranscriptView transcript={t} agent="claude" />);
    await act(async () => {});
    const rows = container.querySelectorAll(".transcript-row").length;
    expect(rows).toBeGreaterThan(0);
    expect(rows).toBeLessThan(80);
    // The fold of 10,000 events takes well under a frame budget per thousand (reported, loosely bounded: the machine is shared).
    expect(foldMs).toBeLessThan(5000);
    console.info(`fold of ${events.length} events: ${foldMs.toFixed(1)} ms; rows in the page: ${rows}`);
  });

  it("shows the raw output line by line", () => {
    const t = buildTranscript(fixtureRun("claude_bash_tool"));
    render(<RawOutput stdout={t.stdout} stderr={["warning: something\n"]} />);
    expect(screen.getByText("Standard output")).toBeInTheDocument();
    expect(screen.getByText(/\(6 lines\)/)).toBeInTheDocument();
    expect(screen.getByText("warning: something")).toBeInTheDocument();
  });
});
