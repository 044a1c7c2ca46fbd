// One run: its transcript following live, the raw output, its changes and
// checkpoints, usage and cost, and what can be done with it.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useMemo } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import type { Endpoints } from "../api/endpoints";
import { isTerminal } from "../api/types";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { StatusBadge } from "../components/StatusBadge";
import { useAction } from "../components/useAction";
import { age, basename, dateTime, shortId, tokens, usd } from "../format";
import { useBoard } from "../live/BoardContext";
import type { BoardRun } from "../live/runstate";
import { useRunStream } from "../live/useRunStream";
import { RawOutput } from "../transcript/RawOutput";
import { TranscriptView } from "../transcript/TranscriptView";
import { usageTotals, type Transcript } from "../transcript/model";
import { RunActions } from "./RunActions";

// The diff viewer loads with the Changes tab.
const DiffView = lazy(() => import("../components/DiffView").then((m) => ({ default: m.DiffView })));

const tabs = [
  ["transcript", "Transcript"],
  ["raw", "Raw output"],
  ["changes", "Changes"],
  ["checkpoints", "Checkpoints"],
  ["usage", "Usage"],
] as const;

export function RunView() {
  const { id = "" } = useParams();
  const { state, api } = useBoard();
  const [params, setParams] = useSearchParams();
  const tab = params.get("tab") ?? "transcript";
  const stream = useRunStream(id);
  const row = useQuery({ queryKey: ["run", id], queryFn: () => api.getRun(id), refetchInterval: (q) => (q.state.data && isTerminal(q.state.data.status) ? false : 5000) });
  // The freshest view of the run: its own stream, the board's, or the API's row.
  const run = useMemo(() => {
    const candidates = [stream.run, state.runs[id], row.data as BoardRun | undefined].filter((r): r is BoardRun => !!r && r.agent !== "");
    const best = candidates.sort((a, b) => b.lastSeq - a.lastSeq)[0];
    const named = candidates.find((r) => r.name)?.name;
    return best ? { ...best, name: best.name ?? named } : undefined;
  }, [stream.run, state.runs, id, row.data]);

  if (!run) {
    if (row.error) return <ProblemNote error={row.error} what="This run could not be read" />;
    return <Loading what="the run" />;
  }
  const session = stream.transcript.sessions.at(-1);
  return (
    <div className="run-view">
      <PageHeader title={run.name || shortId(run.id)}>
        <StatusBadge status={run.status} reason={run.reason} />
        <span className={`live-dot live-${stream.state === "open" ? "on" : "off"}`}>{stream.state}</span>
      </PageHeader>
      <dl className="facts">
        <div>
          <dt>Agent</dt>
          <dd>
            {run.agent}
            {run.spec?.model ? ` · ${run.spec.model}` : ""}
          </dd>
        </div>
        <div>
          <dt>Workspace</dt>
          <dd title={run.workspace}>{basename(run.workspace)}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={dateTime(run.createdAt)}>{age(run.createdAt)} ago</dd>
        </div>
        <div>
          <dt>Attempt</dt>
          <dd>{run.attempt}</dd>
        </div>
        {run.host ? (
          <div>
            <dt>Host</dt>
            <dd>{run.host}</dd>
          </div>
        ) : null}
        <div>
          <dt>Id</dt>
          <dd>
            <code>{run.id}</code>
          </dd>
        </div>
        {run.rerunOf ? (
          <div>
            <dt>Rerun of</dt>
            <dd>
              <Link to={`/runs/${run.rerunOf}`}>{shortId(run.rerunOf)}</Link>
            </dd>
          </div>
        ) : null}
        {run.conversationId ? (
          <div>
            <dt>Conversation</dt>
            <dd>
              <Link to={`/conversations/${run.conversationId}`}>{shortId(run.conversationId)}</Link>
            </dd>
          </div>
        ) : null}
        <UsageFact transcript={stream.transcript} />
      </dl>
      {run.message && (run.status === "failed" || run.status === "rejected") ? (
        <div className="note note-bad" role="alert">
          {run.reason}: {run.message}
        </div>
      ) : null}
      <RunActions run={run} api={api} session={session} />
      <div className="tabs" role="tablist" aria-label="Run views">
        {tabs.map(([key, label]) => (
          <button
            key={key}
            type="button"
            role="tab"
            aria-selected={tab === key}
            className={tab === key ? "active" : ""}
            onClick={() => {
              const next = new URLSearchParams(params);
              next.set("tab", key);
              setParams(next, { replace: true });
            }}
          >
            {label}
          </button>
        ))}
      </div>
      <div className="tab-panel" role="tabpanel">
        {tab === "transcript" ? (
          stream.transcript.semantic === 0 && stream.transcript.stdout.length > 0 ? (
            <>
              <div className="note note-info">This agent's output is not parsed into a conversation: here it is as printed.</div>
              <RawOutput stdout={stream.transcript.stdout} stderr={stream.transcript.stderr} />
            </>
          ) : (
            <TranscriptView transcript={stream.transcript} agent={run.agent} />
          )
        ) : null}
        {tab === "raw" ? <RawOutput stdout={stream.transcript.stdout} stderr={stream.transcript.stderr} /> : null}
        {tab === "changes" ? <Changes runId={run.id} api={api} /> : null}
        {tab === "checkpoints" ? <Checkpoints run={run} api={api} /> : null}
        {tab === "usage" ? <UsagePanel runId={run.id} api={api} transcript={stream.transcript} /> : null}
      </div>
    </div>
  );
}

function UsageFact({ transcript }: { transcript: Transcript }) {
  const t = usageTotals(transcript.usage);
  if (t.inputTokens === 0 && t.outputTokens === 0) return null;
  return (
    <div>
      <dt>Usage</dt>
      <dd>
        {usd(t.costUsd, t.costEstimated)} · {tokens(t.inputTokens)} in / {tokens(t.outputTokens)} out
      </dd>
    </div>
  );
}

function Changes({ runId, api }: { runId: string; api: Endpoints }) {
  const [params, setParams] = useSearchParams();
  const from = params.get("from") ? Number(params.get("from")) : undefined;
  const to = params.get("to") ? Number(params.get("to")) : undefined;
  const diff = useQuery({ queryKey: ["diff", runId, from, to], queryFn: () => api.runDiff(runId, { from, to }) });
  const wide = typeof window === "undefined" || typeof window.matchMedia !== "function" || window.matchMedia("(min-width: 1100px)").matches;
  return (
    <div>
      {from || to ? (
        <div className="note note-info">
          Checkpoints {from ?? "base"} → {to ?? "now"}.{" "}
          <button
            type="button"
            className="link"
            onClick={() => {
              const next = new URLSearchParams(params);
              next.delete("from");
              next.delete("to");
              setParams(next, { replace: true });
            }}
          >
            Against the base
          </button>
        </div>
      ) : null}
      {diff.isLoading ? <Loading what="the changes" /> : null}
      <ProblemNote error={diff.error} what="Changes" />
      {diff.data ? (
        <Suspense fallback={<Loading what="the diff viewer" />}>
          <DiffView diff={diff.data} wide={wide} />
        </Suspense>
      ) : null}
    </div>
  );
}

function Checkpoints({ run, api }: { run: BoardRun; api: Endpoints }) {
  const qc = useQueryClient();
  const [, setParams] = useSearchParams();
  const list = useQuery({ queryKey: ["checkpoints", run.id], queryFn: () => api.checkpoints(run.id), refetchInterval: isTerminal(run.status) ? false : 5000 });
  const timeline = useQuery({ queryKey: ["timeline", run.id], queryFn: () => api.timeline(run.id) });
  const act = useAction<unknown>();
  const refresh = () => void qc.invalidateQueries({ queryKey: ["checkpoints", run.id] });
  const cps = list.data?.checkpoints ?? [];
  return (
    <div className="checkpoints">
      <div className="row">
        <button type="button" disabled={act.busy} onClick={async () => (await act.run(() => api.createCheckpoint(run.id)), refresh())}>
          Make a checkpoint now
        </button>
      </div>
      <ProblemNote error={act.error} />
      <ProblemNote error={list.error} what="Checkpoints" />
      {list.isLoading ? <Loading what="checkpoints" /> : null}
      <ol className="timeline" aria-label="Checkpoint timeline">
        {cps.map((c, i) => (
          <li key={c.n}>
            <div className="tl-dot" aria-hidden="true" />
            <div className="tl-body">
              <strong>#{c.n}</strong> <span className="muted">{dateTime(c.time)}</span> · {c.trigger}
              {c.toolUseId ? <code className="muted"> {c.toolUseId.slice(-8)}</code> : null} · {c.files.length} file{c.files.length === 1 ? "" : "s"}{" "}
              <span className="plus">+{c.additions}</span> <span className="minus">−{c.deletions}</span> <code className="muted">{c.commit.slice(0, 10)}</code>
              <div className="row small">
                <button type="button" className="link" onClick={() => setParams({ tab: "changes", ...(i > 0 ? { from: String(cps[i - 1]?.n) } : {}), to: String(c.n) })}>
                  What changed
                </button>
                <button
                  type="button"
                  className="link"
                  disabled={act.busy || !isTerminal(run.status)}
                  title={isTerminal(run.status) ? "" : "Restoring needs the agent to be stopped"}
                  onClick={async () => {
                    if (confirm(`Restore the worktree to checkpoint ${c.n}? The current state is checkpointed first.`)) {
                      await act.run(() => api.restoreCheckpoint(run.id, c.n));
                      refresh();
                    }
                  }}
                >
                  Restore
                </button>
                <button
                  type="button"
                  className="link"
                  disabled={act.busy}
                  onClick={async () => {
                    const prompt = window.prompt("Fork a new run from this checkpoint. Prompt (empty: the same as this run's):") ?? undefined;
                    if (prompt === undefined) return;
                    await act.run(() => api.forkCheckpoint(run.id, c.n, prompt ? { prompt } : {}));
                    void qc.invalidateQueries({ queryKey: ["timeline", run.id] });
                  }}
                >
                  Fork
                </button>
              </div>
            </div>
          </li>
        ))}
      </ol>
      {timeline.data && timeline.data.runs.length > 1 ? (
        <section>
          <h3>Forks</h3>
          <ul>
            {timeline.data.runs.map((r) => (
              <li key={r.runId}>
                <Link to={`/runs/${r.runId}`}>{r.name || shortId(r.runId)}</Link> {r.status ? <StatusBadge status={r.status} /> : null}
                {r.forkOf ? (
                  <span className="muted">
                    {" "}
                    forked from {shortId(r.forkOf.runId)} at #{r.forkOf.checkpoint}
                  </span>
                ) : null}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </div>
  );
}

function UsagePanel({ runId, api, transcript }: { runId: string; api: Endpoints; transcript: Transcript }) {
  const usage = useQuery({ queryKey: ["run-usage", runId, transcript.lastSeq > 0 ? Math.floor(transcript.lastSeq / 50) : 0], queryFn: () => api.runUsage(runId) });
  const live = usageTotals(transcript.usage);
  return (
    <div>
      <p>
        Live from the agent's output: <strong>{usd(live.costUsd, live.costEstimated)}</strong>, {tokens(live.inputTokens)} input,{" "}
        {tokens(live.outputTokens)} output, {tokens(live.cacheReadTokens)} cache read, {tokens(live.reasoningTokens)} reasoning tokens.
        {live.costEstimated ? " Costs marked ~ are estimated from Phantom's price table." : ""}
      </p>
      <ProblemNote error={usage.error} what="Usage" />
      {usage.data ? (
        <table className="table">
          <caption>Recorded per attempt and model</caption>
          <thead>
            <tr>
              <th>Attempt</th>
              <th>Model</th>
              <th className="num">Input</th>
              <th className="num">Output</th>
              <th className="num">Cache read</th>
              <th className="num">Reasoning</th>
              <th className="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {usage.data.usage.map((u) => (
              <tr key={`${u.attempt}-${u.model}`}>
                <td>{u.attempt}</td>
                <td>{u.model}</td>
                <td className="num">{tokens(u.inputTokens)}</td>
                <td className="num">{tokens(u.outputTokens)}</td>
                <td className="num">{tokens(u.cacheReadTokens)}</td>
                <td className="num">{tokens(u.reasoningTokens)}</td>
                <td className="num">{usd(u.costUsd, u.costEstimated)}</td>
              </tr>
            ))}
          </tbody>
          <tfoot>
            <tr>
              <th colSpan={2}>Total</th>
              <th className="num">{tokens(usage.data.total.inputTokens)}</th>
              <th className="num">{tokens(usage.data.total.outputTokens)}</th>
              <th />
              <th />
              <th className="num">{usd(usage.data.total.costUsd, usage.data.total.costEstimated)}</th>
            </tr>
          </tfoot>
        </table>
      ) : null}
    </div>
  );
}
