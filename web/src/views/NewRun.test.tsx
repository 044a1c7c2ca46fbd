import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import type { Endpoints } from "../api/endpoints";
import type { Capability, RunSpec } from "../api/types";
import { renderView } from "../test/render";
import { NewRunView, fieldOfProblem, specOf } from "./NewRun";

const cap = (agent: string, support: Capability["support"], options: string[]): Capability => ({
  runnerId: "r1",
  host: "host-1",
  agent,
  command: agent,
  found: support !== "missing",
  version: support === "missing" ? null : "2.1.197",
  support,
  reason: support === "degraded" ? "older than the supported range" : null,
  provider: agent,
  defaultModel: null,
  planModel: null,
  install: null,
  models: agent === "claude" ? ["sonnet", "opus"] : [],
  options,
  updatedAt: "2026-11-21T10:00:00Z",
});

function fakeApi(submit: (s: RunSpec) => Promise<{ id: string; status: "queued" }>): Partial<Endpoints> {
  return {
    listRuns: async () => ({ runs: [], nextCursor: null }),
    capabilities: async () => ({
      capabilities: [cap("claude", "supported", ["maxTurns", "permissionMode"]), cap("codex", "degraded", ["sandbox"]), cap("gemini", "missing", [])],
    }),
    workspaces: async () => ({ workspaces: [{ path: "/home/dev/project" }] }),
    profiles: async () => ({ profiles: [] }),
    submitRun: submit,
  };
}

describe("the new-run form", () => {
  it("offers the agents with their support and guard enforcement, and shows the API's refusal next to its field", async () => {
    const sent: RunSpec[] = [];
    const submit = async (s: RunSpec) => {
      sent.push(s);
      throw new ApiError(400, { type: "about:blank", title: "Bad Request", status: 400, code: "invalid_request", field: "harness.maxTurns", detail: "harness.maxTurns must be in 1..10000, got 0" }, "400");
    };
    renderView("/new", "/new", <NewRunView />, { api: fakeApi(submit) });
    await screen.findByRole("option", { name: /claude — supported 2\.1\.197 · guard enforced/ });
    const agent = screen.getByLabelText("Agent") as HTMLSelectElement;
    expect(screen.getByRole("option", { name: /codex — degraded .* no guard hook/ })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: /gemini — missing/ })).toBeDisabled();
    await userEvent.selectOptions(agent, "claude");
    expect(screen.getByText(/safety guard enforced on every shell command/)).toBeInTheDocument();
    await userEvent.type(screen.getByLabelText("Workspace"), "/home/dev/project");
    await userEvent.type(screen.getByLabelText("Prompt"), "Fix the flaky test");
    await userEvent.type(screen.getByLabelText("Priority (−10…10)"), "5");
    await userEvent.click(screen.getByText(/Harness options/));
    await userEvent.type(screen.getByLabelText("Max turns"), "0");
    await userEvent.click(screen.getByRole("button", { name: "Submit run" }));
    const error = await screen.findByText("harness.maxTurns must be in 1..10000, got 0");
    const input = screen.getByLabelText("Max turns");
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(input.getAttribute("aria-describedby")).toContain(error.id);
    expect(sent[0]).toEqual({ agent: "claude", prompt: "Fix the flaky test", workspace: "/home/dev/project", priority: 5, harness: { maxTurns: 0 } });
  });

  it("refuses to send without an agent, a workspace and a prompt", async () => {
    const sent: RunSpec[] = [];
    renderView("/new", "/new", <NewRunView />, { api: fakeApi(async (s) => (sent.push(s), { id: "x", status: "queued" })) });
    await screen.findByRole("option", { name: /claude/ });
    await userEvent.click(screen.getByRole("button", { name: "Submit run" }));
    expect(screen.getByText("choose an agent")).toBeInTheDocument();
    expect(screen.getByText("say what the agent should do")).toBeInTheDocument();
    expect(sent).toHaveLength(0);
  });

  it("maps the API's field names to the form's", () => {
    expect(fieldOfProblem("labels.team")).toBe("labels");
    expect(fieldOfProblem("harness.allowedTools[3]")).toBe("harness.allowedTools");
    expect(fieldOfProblem("budget.maxCostUsd")).toBe("budget.maxCostUsd");
    expect(fieldOfProblem("priority")).toBe("priority");
    const { spec, errors } = specOf({ ...blankForm(), agent: "fake", workspace: "/w", prompt: "x", labels: "a=1, b" });
    expect(errors.labels).toContain('"b"');
    expect(spec.labels).toEqual({ a: "1" });
  });
});

function blankForm(): Parameters<typeof specOf>[0] {
  return {
    agent: "",
    workspace: "",
    profile: "",
    prompt: "",
    model: "",
    priority: "",
    timeoutSeconds: "",
    interactive: false,
    labels: "",
    maxRetries: "",
    maxCostUsd: "",
    permissionMode: "",
    sandbox: "",
    autoApprove: false,
    maxTurns: "",
    allowedTools: "",
    disallowedTools: "",
    appendSystemPrompt: "",
  };
}
