// The safety guard: its decisions (newest first, blocked ones alone on
// request) and the policy of each scope.
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link } from "react-router";
import { ApiError } from "../api/client";
import type { GuardPolicy, SaveGuardPolicy } from "../api/types";
import { Field } from "../components/Field";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { useAction } from "../components/useAction";
import { dateTime, shortId } from "../format";
import { useBoard } from "../live/BoardContext";

export function GuardView() {
  const { api } = useBoard();
  const [decision, setDecision] = useState<"" | "allow" | "block">("block");
  const audits = useInfiniteQuery({
    queryKey: ["audits", decision],
    queryFn: ({ pageParam }) => api.audits({ decision: decision || undefined, limit: 100, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (p) => p.nextCursor ?? undefined,
    refetchInterval: 10000,
  });
  const policies = useQuery({ queryKey: ["policies"], queryFn: () => api.policies() });
  return (
    <div>
      <PageHeader title="Guard">
        <select aria-label="Decisions" value={decision} onChange={(e) => setDecision(e.target.value as typeof decision)}>
          <option value="block">Blocked</option>
          <option value="allow">Allowed</option>
          <option value="">All decisions</option>
        </select>
      </PageHeader>
      <section>
        <h2>Decisions</h2>
        <ProblemNote error={audits.error} />
        {audits.isLoading ? <Loading what="decisions" /> : null}
        <table className="table">
          <thead>
            <tr>
              <th>When</th>
              <th>Run</th>
              <th>Decision</th>
              <th>Command</th>
              <th>Rule</th>
              <th>Asked by</th>
            </tr>
          </thead>
          <tbody>
            {audits.data?.pages
              .flatMap((p) => p.audits)
              .map((a) => (
                <tr key={a.seq}>
                  <td>{dateTime(a.time)}</td>
                  <td>
                    <Link to={`/runs/${a.runId}`}>{shortId(a.runId)}</Link>
                  </td>
                  <td>
                    <span className={`badge badge-${a.decision === "block" ? "bad" : "good"}`}>{a.decision}</span>
                  </td>
                  <td>
                    <code>{a.command}</code>
                    {a.reason ? <div className="muted small">{a.reason}</div> : null}
                  </td>
                  <td>{a.rule ?? ""}</td>
                  <td>
                    {a.origin ?? ""}
                    {a.agent ? ` (${a.agent})` : ""}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
        {audits.hasNextPage ? (
          <button type="button" onClick={() => audits.fetchNextPage()} disabled={audits.isFetchingNextPage}>
            Older decisions
          </button>
        ) : null}
      </section>
      <section>
        <h2>Policies</h2>
        <ProblemNote error={policies.error} />
        {(policies.data?.policies ?? []).map((p) => (
          <details key={p.id} className="card">
            <summary>
              {p.scope}
              {p.target ? `: ${p.target}` : ""} <span className="muted">· {p.policy.mode ?? "default"} · updated {dateTime(p.updatedAt)}</span>
            </summary>
            <pre>{JSON.stringify(p.policy, null, 2)}</pre>
          </details>
        ))}
        <PolicyEditor />
      </section>
    </div>
  );
}

function PolicyEditor() {
  const { api } = useBoard();
  const qc = useQueryClient();
  const act = useAction<unknown>();
  const [scope, setScope] = useState<SaveGuardPolicy["scope"]>("global");
  const [target, setTarget] = useState("");
  const [text, setText] = useState('{\n  "mode": "strict"\n}');
  const [fieldError, setFieldError] = useState<{ field: string; message: string }>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setFieldError(undefined);
    let policy: GuardPolicy;
    try {
      policy = JSON.parse(text) as GuardPolicy;
    } catch (err) {
      setFieldError({ field: "policy", message: `not JSON: ${(err as Error).message}` });
      return;
    }
    const body: SaveGuardPolicy = { scope, policy };
    if (scope !== "global") body.target = target;
    const r = await act.run(() => api.savePolicy(body));
    if (r !== undefined) void qc.invalidateQueries({ queryKey: ["policies"] });
  };
  const apiField = act.error instanceof ApiError ? act.error.field : undefined;
  const err = (f: string) => (fieldError?.field === f ? fieldError.message : apiField && (apiField === f || apiField.startsWith(`${f}.`)) ? `${apiField}: ${(act.error as Error).message}` : undefined);
  return (
    <form className="card form" onSubmit={submit} aria-label="Set a policy">
      <h3>Set the policy of a scope</h3>
      <div className="grid-2">
        <Field name="scope" label="Scope" error={err("scope")}>
          <select value={scope} onChange={(e) => setScope(e.target.value as SaveGuardPolicy["scope"])}>
            <option value="global">global</option>
            <option value="workspace">workspace</option>
            <option value="profile">profile</option>
          </select>
        </Field>
        <Field name="target" label="Workspace path or profile" error={err("target")}>
          <input value={target} disabled={scope === "global"} onChange={(e) => setTarget(e.target.value)} />
        </Field>
      </div>
      <Field name="policy" label="Policy (JSON)" error={err("policy")}>
        <textarea rows={8} className="mono" value={text} onChange={(e) => setText(e.target.value)} />
      </Field>
      {act.error && !apiField ? <ProblemNote error={act.error} /> : null}
      <button type="submit" className="primary" disabled={act.busy}>
        Save policy
      </button>
    </form>
  );
}
