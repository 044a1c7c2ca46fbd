// Submit a run: the agent (from the runners' capabilities, with its support
// level and whether the guard is enforced), the workspace (from the grants),
// a profile, the prompt, the common harness options and the priority. A
// refusal is shown next to the field the API names.
import { useQuery } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { ApiError } from "../api/client";
import type { Harness, RunSpec } from "../api/types";
import { Field } from "../components/Field";
import { PageHeader, ProblemNote } from "../components/common";
import { useBoard } from "../live/BoardContext";
import { agentChoices } from "./agents";

interface Form {
  agent: string;
  workspace: string;
  profile: string;
  prompt: string;
  model: string;
  priority: string;
  timeoutSeconds: string;
  interactive: boolean;
  labels: string;
  maxRetries: string;
  maxCostUsd: string;
  permissionMode: string;
  sandbox: string;
  autoApprove: boolean;
  maxTurns: string;
  allowedTools: string;
  disallowedTools: string;
  appendSystemPrompt: string;
}

const blank: Form = {
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

const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter(Boolean);

/** specOf turns the form into a run request, leaving out what was left blank (the profile or defaults fill it). */
export function specOf(f: Form): { spec: RunSpec; errors: Record<string, string> } {
  const errors: Record<string, string> = {};
  const num = (field: string, v: string): number | undefined => {
    if (v.trim() === "") return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) errors[field] = `${field} must be a number`;
    return n;
  };
  const spec: RunSpec = { agent: f.agent.trim(), prompt: f.prompt, workspace: f.workspace.trim() };
  if (!spec.agent) errors.agent = "choose an agent";
  if (!spec.workspace) errors.workspace = "the workspace's absolute path";
  if (!f.prompt.trim() && !f.interactive) errors.prompt = "say what the agent should do";
  if (f.profile) spec.profile = f.profile;
  if (f.model.trim()) spec.model = f.model.trim();
  const priority = num("priority", f.priority);
  if (priority !== undefined) spec.priority = priority;
  const timeout = num("timeoutSeconds", f.timeoutSeconds);
  if (timeout !== undefined) spec.timeoutSeconds = timeout;
  const retries = num("maxRetries", f.maxRetries);
  if (retries !== undefined) spec.maxRetries = retries;
  const cost = num("budget.maxCostUsd", f.maxCostUsd);
  if (cost !== undefined) spec.budget = { maxCostUsd: cost };
  if (f.interactive) spec.interactive = true;
  if (f.labels.trim()) {
    const labels: Record<string, string> = {};
    for (const pair of list(f.labels)) {
      const [k, ...v] = pair.split("=");
      if (!k || v.length === 0) errors.labels = `write labels as key=value, separated by commas (got "${pair}")`;
      else labels[k.trim()] = v.join("=").trim();
    }
    spec.labels = labels;
  }
  const h: Harness = {};
  if (f.permissionMode) h.permissionMode = f.permissionMode;
  if (f.sandbox) h.sandbox = f.sandbox as Harness["sandbox"];
  if (f.autoApprove) h.autoApprove = true;
  const turns = num("harness.maxTurns", f.maxTurns);
  if (turns !== undefined) h.maxTurns = turns;
  if (f.allowedTools.trim()) h.allowedTools = list(f.allowedTools);
  if (f.disallowedTools.trim()) h.disallowedTools = list(f.disallowedTools);
  if (f.appendSystemPrompt.trim()) h.appendSystemPrompt = f.appendSystemPrompt;
  if (Object.keys(h).length > 0) spec.harness = h;
  return { spec, errors };
}

/** fieldOfProblem maps the API's field (harness.maxTurns, budget.maxCostUsd, labels.x) to the form's. */
export function fieldOfProblem(field: string | undefined): string {
  if (!field) return "";
  if (field.startsWith("labels")) return "labels";
  if (field === "budget" || field.startsWith("budget.")) return "budget.maxCostUsd";
  const harness = ["permissionMode", "sandbox", "autoApprove", "maxTurns", "allowedTools", "disallowedTools", "appendSystemPrompt"];
  for (const h of harness) if (field === `harness.${h}` || field.startsWith(`harness.${h}[`)) return `harness.${h}`;
  return field.replace(/\[.*$/, "");
}

export function NewRunView() {
  const { api, state } = useBoard();
  const navigate = useNavigate();
  const caps = useQuery({ queryKey: ["capabilities"], queryFn: () => api.capabilities() });
  const grants = useQuery({ queryKey: ["workspaces"], queryFn: () => api.workspaces(), retry: false });
  const profiles = useQuery({ queryKey: ["profiles"], queryFn: () => api.profiles() });
  const [form, setForm] = useState<Form>(blank);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [failure, setFailure] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const choices = useMemo(() => agentChoices(caps.data?.capabilities ?? []), [caps.data]);
  const chosen = choices.find((c) => c.agent === form.agent);
  const recent = useMemo(() => [...new Set(state.ids.map((id) => state.runs[id]?.workspace).filter((w): w is string => !!w))].slice(0, 20), [state]);
  const workspaces = [...new Set([...(grants.data?.workspaces ?? []).map((w) => w.path), ...recent])];
  const honours = (opt: string) => !chosen || chosen.options.includes(opt);
  const set = <K extends keyof Form>(k: K, v: Form[K]) => setForm((f) => ({ ...f, [k]: v }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { spec, errors: local } = specOf(form);
    setErrors(local);
    setFailure(undefined);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      const res = form.interactive ? await api.startSession(spec) : await api.submitRun(spec);
      navigate(`/runs/${res.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.field) {
        setErrors({ [fieldOfProblem(err.field)]: err.message });
      } else {
        setFailure(err);
      }
    } finally {
      setBusy(false);
    }
  };
  const err = (k: string) => errors[k];
  const unshown = Object.keys(errors).filter(
    (k) => !["agent", "workspace", "profile", "prompt", "model", "priority", "timeoutSeconds", "labels", "maxRetries", "budget.maxCostUsd", "interactive"].includes(k) && !k.startsWith("harness."),
  );

  return (
    <div className="new-run">
      <PageHeader title="New run" />
      <form onSubmit={submit} noValidate className="form">
        <Field
          name="agent"
          label="Agent"
          error={err("agent")}
          hint={
            chosen ? (
              <>
                <span className={`badge badge-${chosen.support === "supported" ? "good" : chosen.support === "degraded" ? "warn" : "bad"}`}>{chosen.support}</span>{" "}
                {chosen.version ? `version ${chosen.version}` : "not installed"} on {chosen.runners} runner{chosen.runners === 1 ? "" : "s"}
                {chosen.reason ? ` · ${chosen.reason}` : ""} ·{" "}
                {chosen.guard === "hook" ? "safety guard enforced on every shell command (hook)" : "safety guard not enforced on its tool calls (no hook): only the prelude and Phantom's git commands are judged"}
              </>
            ) : caps.error ? (
              "The runners' capabilities could not be read: type the agent's name."
            ) : undefined
          }
        >
          {choices.length > 0 ? (
            <select value={form.agent} onChange={(e) => set("agent", e.target.value)}>
              <option value="">Choose…</option>
              {choices.map((c) => (
                <option key={c.agent} value={c.agent} disabled={c.support === "blocked" || c.support === "missing"}>
                  {c.agent} — {c.support}
                  {c.version ? ` ${c.version}` : ""}
                  {c.guard === "hook" ? " · guard enforced" : " · no guard hook"}
                </option>
              ))}
            </select>
          ) : (
            <input value={form.agent} onChange={(e) => set("agent", e.target.value)} placeholder="claude, codex, gemini, fake" />
          )}
        </Field>
        <Field name="workspace" label="Workspace" error={err("workspace")} hint={grants.error ? "Granted workspaces are not listed by this gateway yet: recent ones are suggested." : undefined}>
          <input value={form.workspace} onChange={(e) => set("workspace", e.target.value)} list="workspaces" placeholder="/home/me/src/project" autoComplete="off" />
        </Field>
        <datalist id="workspaces">
          {workspaces.map((w) => (
            <option key={w} value={w} />
          ))}
        </datalist>
        <Field name="profile" label="Profile" error={err("profile")}>
          <select value={form.profile} onChange={(e) => set("profile", e.target.value)}>
            <option value="">None</option>
            {(profiles.data?.profiles ?? []).map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
        <Field name="prompt" label="Prompt" error={err("prompt")}>
          <textarea rows={6} value={form.prompt} onChange={(e) => set("prompt", e.target.value)} placeholder="What should the agent do?" />
        </Field>
        <div className="grid-3">
          <Field name="model" label="Model" error={err("model")}>
            <input value={form.model} onChange={(e) => set("model", e.target.value)} list="models" placeholder="the agent's default" />
          </Field>
          <Field name="priority" label="Priority (−10…10)" error={err("priority")}>
            <input type="number" min={-10} max={10} value={form.priority} onChange={(e) => set("priority", e.target.value)} placeholder="0" />
          </Field>
          <Field name="timeoutSeconds" label="Timeout (s)" error={err("timeoutSeconds")}>
            <input type="number" min={5} max={10800} value={form.timeoutSeconds} onChange={(e) => set("timeoutSeconds", e.target.value)} />
          </Field>
        </div>
        <datalist id="models">
          {(chosen?.models ?? []).map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        <div className="grid-3">
          <Field name="labels" label="Labels" error={err("labels")}>
            <input value={form.labels} onChange={(e) => set("labels", e.target.value)} placeholder="ticket=PH-12, team=core" />
          </Field>
          <Field name="maxRetries" label="Retries (0…10)" error={err("maxRetries")}>
            <input type="number" min={0} max={10} value={form.maxRetries} onChange={(e) => set("maxRetries", e.target.value)} />
          </Field>
          <Field name="budget.maxCostUsd" label="Budget (USD)" error={err("budget.maxCostUsd")}>
            <input type="number" min={0} step="0.01" value={form.maxCostUsd} onChange={(e) => set("maxCostUsd", e.target.value)} />
          </Field>
        </div>
        <label className="check">
          <input type="checkbox" checked={form.interactive} onChange={(e) => set("interactive", e.target.checked)} /> Interactive session (the agent keeps reading
          what you send)
        </label>
        <details className="harness">
          <summary>Harness options{chosen ? ` (${chosen.agent} honours ${chosen.options.length})` : ""}</summary>
          <div className="grid-3">
            <Field name="harness.permissionMode" label="Permission mode" error={err("harness.permissionMode")} hint={honours("permissionMode") ? undefined : "dropped for this agent"}>
              <input value={form.permissionMode} onChange={(e) => set("permissionMode", e.target.value)} placeholder="default, acceptEdits, plan" />
            </Field>
            <Field name="harness.sandbox" label="Sandbox" error={err("harness.sandbox")} hint={honours("sandbox") ? undefined : "dropped for this agent"}>
              <select value={form.sandbox} onChange={(e) => set("sandbox", e.target.value)}>
                <option value="">Agent's default</option>
                <option value="read-only">read-only</option>
                <option value="workspace-write">workspace-write</option>
                <option value="full-access">full-access</option>
              </select>
            </Field>
            <Field name="harness.maxTurns" label="Max turns" error={err("harness.maxTurns")} hint={honours("maxTurns") ? undefined : "dropped for this agent"}>
              <input type="number" min={1} max={10000} value={form.maxTurns} onChange={(e) => set("maxTurns", e.target.value)} />
            </Field>
          </div>
          <div className="grid-2">
            <Field name="harness.allowedTools" label="Allowed tools" error={err("harness.allowedTools")} hint={honours("allowedTools") ? undefined : "dropped for this agent"}>
              <input value={form.allowedTools} onChange={(e) => set("allowedTools", e.target.value)} placeholder="Bash, Edit" />
            </Field>
            <Field name="harness.disallowedTools" label="Disallowed tools" error={err("harness.disallowedTools")} hint={honours("disallowedTools") ? undefined : "dropped for this agent"}>
              <input value={form.disallowedTools} onChange={(e) => set("disallowedTools", e.target.value)} placeholder="WebFetch" />
            </Field>
          </div>
          <label className="check">
            <input type="checkbox" checked={form.autoApprove} onChange={(e) => set("autoApprove", e.target.checked)} aria-describedby={err("harness.autoApprove") ? "f-harness-autoApprove-error" : undefined} /> Auto-approve
            the agent's actions
          </label>
          {err("harness.autoApprove") ? (
            <div className="field-error" id="f-harness-autoApprove-error" role="alert">
              {err("harness.autoApprove")}
            </div>
          ) : null}
          <Field name="harness.appendSystemPrompt" label="Append to the system prompt" error={err("harness.appendSystemPrompt")}>
            <textarea rows={2} value={form.appendSystemPrompt} onChange={(e) => set("appendSystemPrompt", e.target.value)} />
          </Field>
        </details>
        {unshown.map((k) => (
          <div key={k} className="field-error" role="alert">
            {k}: {errors[k]}
          </div>
        ))}
        <ProblemNote error={failure} what="Not submitted" />
        <div className="row">
          <button type="submit" className="primary" disabled={busy}>
            {form.interactive ? "Start session" : "Submit run"}
          </button>
        </div>
      </form>
    </div>
  );
}
