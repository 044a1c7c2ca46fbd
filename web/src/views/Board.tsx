// The runs board: every run, live, with the queue's reasons; filters and
// grouping by status, agent, workspace and label are kept in the URL.
import { useQuery } from "@tanstack/react-query";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef, useState, type KeyboardEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";
import type { QueueJob, RunStatus } from "../api/types";
import { PageHeader } from "../components/common";
import { StatusBadge } from "../components/StatusBadge";
import { age, basename, shortId, tokens, usd, waitReason } from "../format";
import { useBoard } from "../live/BoardContext";
import type { LiveUsage } from "../live/board";
import type { BoardRun } from "../live/runstate";

export const statusOrder: RunStatus[] = [
  "awaiting_input",
  "running",
  "paused",
  "preparing",
  "dispatched",
  "queued",
  "retry_scheduled",
  "requested",
  "failed",
  "rejected",
  "canceled",
  "completed",
];

export interface BoardFilter {
  status: string[];
  agent: string;
  workspace: string;
  label: string;
  text: string;
}

export function matches(r: BoardRun, f: BoardFilter): boolean {
  if (f.status.length > 0 && !f.status.includes(r.status)) return false;
  if (f.agent && r.agent !== f.agent) return false;
  if (f.workspace && r.workspace !== f.workspace) return false;
  if (f.label) {
    const [k, v] = f.label.split("=", 2);
    const labels = r.spec?.labels ?? {};
    if (!k || !(k in labels)) return false;
    if (v !== undefined && labels[k] !== v) return false;
  }
  if (f.text) {
    const t = f.text.toLowerCase();
    if (![r.id, r.name ?? "", r.prompt].some((s) => s.toLowerCase().includes(t))) return false;
  }
  return true;
}

type Row = { kind: "group"; label: string; count: number } | { kind: "run"; run: BoardRun };

function rowsOf(runs: BoardRun[], groupBy: string): Row[] {
  if (!groupBy) return runs.map((run) => ({ kind: "run", run }));
  const groups = new Map<string, BoardRun[]>();
  for (const r of runs) {
    const key = groupBy === "status" ? r.status : groupBy === "agent" ? r.agent : groupBy === "workspace" ? r.workspace : "";
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const keys = [...groups.keys()].sort((a, b) =>
    groupBy === "status" ? statusOrder.indexOf(a as RunStatus) - statusOrder.indexOf(b as RunStatus) : a.localeCompare(b),
  );
  return keys.flatMap((k) => {
    const rs = groups.get(k) ?? [];
    return [{ kind: "group", label: k || "—", count: rs.length } as Row, ...rs.map((run) => ({ kind: "run", run }) as Row)];
  });
}

function RunRow({ run, job, usage, selected }: { run: BoardRun; job?: QueueJob; usage?: LiveUsage; selected: boolean }) {
  const cost = usage?.costUsd ?? run.usage?.costUsd ?? null;
  const toks = usage ? usage.inputTokens + usage.outputTokens : run.usage ? run.usage.inputTokens + run.usage.outputTokens : null;
  const why = job ? `#${job.position} ${waitReason(job)}` : run.reason;
  return (
    <Link to={`/runs/${run.id}`} className={`run-row ${selected ? "selected" : ""}`} aria-current={selected ? "true" : undefined}>
      <span className="c-name">
        <strong>{run.name || shortId(run.id)}</strong>
        <span className="muted prompt-line">{run.prompt}</span>
      </span>
      <span className="c-agent">{run.agent || "…"}</span>
      <span className="c-status">
        <StatusBadge status={run.status} reason={why} />
      </span>
      <span className="c-ws" title={run.workspace}>
        {basename(run.workspace)}
      </span>
      <span className="c-age">{age(run.createdAt)}</span>
      <span className="c-cost">{usd(cost)}</span>
      <span className="c-tokens">{tokens(toks)}</span>
    </Link>
  );
}

export function BoardView() {
  const { state, mode, streamState, api } = useBoard();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const filter: BoardFilter = {
    status: params.getAll("status"),
    agent: params.get("agent") ?? "",
    workspace: params.get("workspace") ?? "",
    label: params.get("label") ?? "",
    text: params.get("q") ?? "",
  };
  const groupBy = params.get("group") ?? "";
  const set = (k: string, v: string | string[]) => {
    const next = new URLSearchParams(params);
    next.delete(k);
    for (const x of Array.isArray(v) ? v : [v]) if (x) next.append(k, x);
    setParams(next, { replace: true });
  };

  const queue = useQuery({ queryKey: ["queue"], queryFn: () => api.queue({ limit: 1000 }), refetchInterval: 5000 });
  const jobs = useMemo(() => new Map((queue.data?.jobs ?? []).map((j) => [j.runId, j])), [queue.data]);

  const all = useMemo(() => state.ids.map((id) => state.runs[id]).filter((r): r is BoardRun => !!r), [state]);
  const agents = useMemo(() => [...new Set(all.map((r) => r.agent).filter(Boolean))].sort(), [all]);
  const workspaces = useMemo(() => [...new Set(all.map((r) => r.workspace).filter(Boolean))].sort(), [all]);
  const shown = useMemo(() => all.filter((r) => matches(r, filter)), [all, filter.status.join(), filter.agent, filter.workspace, filter.label, filter.text]); // eslint-disable-line react-hooks/exhaustive-deps
  const rows = useMemo(() => rowsOf(shown, groupBy), [shown, groupBy]);

  const scroller = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: (i) => (rows[i]?.kind === "group" ? 32 : 52), overscan: 10 });
  const [cursor, setCursor] = useState(0);
  const onKey = (e: KeyboardEvent) => {
    if ((e.target as HTMLElement).closest("input, select, textarea")) return;
    const runRows = rows.map((r, i) => (r.kind === "run" ? i : -1)).filter((i) => i >= 0);
    const pos = runRows.indexOf(cursor);
    if (e.key === "j" || e.key === "ArrowDown") {
      const next = runRows[Math.min(runRows.length - 1, pos + 1)] ?? 0;
      setCursor(next);
      v.scrollToIndex(next);
      e.preventDefault();
    } else if (e.key === "k" || e.key === "ArrowUp") {
      const next = runRows[Math.max(0, pos - 1)] ?? 0;
      setCursor(next);
      v.scrollToIndex(next);
      e.preventDefault();
    } else if (e.key === "Enter") {
      const row = rows[cursor];
      if (row?.kind === "run") navigate(`/runs/${row.run.id}`);
    }
  };

  const counts = useMemo(() => {
    const c: Record<string, number> = {};
    for (const r of all) c[r.status] = (c[r.status] ?? 0) + 1;
    return c;
  }, [all]);
  const pending = queue.data?.jobs ?? [];

  return (
    <div className="board" onKeyDown={onKey}>
      <PageHeader title="Runs">
        <span className={`live-dot live-${mode === "stream" && streamState === "open" ? "on" : mode === "polling" ? "poll" : "off"}`}>
          {mode === "stream" ? (streamState === "open" ? "live" : (streamState ?? "connecting")) : mode === "polling" ? "polling" : mode}
        </span>
        <Link className="button primary" to="/new">
          New run
        </Link>
      </PageHeader>
      <div className="filters" role="search">
        <input
          type="search"
          placeholder="Search name, prompt, id  (/)"
          aria-label="Search runs"
          value={filter.text}
          onChange={(e) => set("q", e.target.value)}
          data-hotkey="/"
        />
        <select aria-label="Agent" value={filter.agent} onChange={(e) => set("agent", e.target.value)}>
          <option value="">All agents</option>
          {agents.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
        <select aria-label="Workspace" value={filter.workspace} onChange={(e) => set("workspace", e.target.value)}>
          <option value="">All workspaces</option>
          {workspaces.map((w) => (
            <option key={w} value={w}>
              {w}
            </option>
          ))}
        </select>
        <input aria-label="Label" placeholder="label key=value" value={filter.label} onChange={(e) => set("label", e.target.value)} />
        <select aria-label="Group by" value={groupBy} onChange={(e) => set("group", e.target.value)}>
          <option value="">No grouping</option>
          <option value="status">Group by status</option>
          <option value="agent">Group by agent</option>
          <option value="workspace">Group by workspace</option>
        </select>
      </div>
      <div className="chips" role="group" aria-label="Status">
        {statusOrder
          .filter((s) => counts[s] || filter.status.includes(s))
          .map((s) => {
            const on = filter.status.includes(s);
            return (
              <button
                key={s}
                type="button"
                className={`chip ${on ? "on" : ""}`}
                aria-pressed={on}
                onClick={() => set("status", on ? filter.status.filter((x) => x !== s) : [...filter.status, s])}
              >
                {s.replace("_", " ")} <span className="muted">{counts[s] ?? 0}</span>
              </button>
            );
          })}
      </div>
      {pending.length > 0 ? (
        <details className="queue" open={pending.length <= 8}>
          <summary>
            Queue: {pending.length} waiting{queue.data && !queue.data.live ? " (from the read model: no scheduler answered)" : ""}
          </summary>
          <ol>
            {pending.slice(0, 50).map((j) => (
              <li key={j.runId}>
                <Link to={`/runs/${j.runId}`}>{state.runs[j.runId]?.name || shortId(j.runId)}</Link> <span className="muted">{j.agent}</span>{" "}
                <span className="badge badge-wait">{waitReason(j)}</span>
              </li>
            ))}
          </ol>
        </details>
      ) : null}
      <div className="run-head" aria-hidden="true">
        <span className="c-name">Run</span>
        <span className="c-agent">Agent</span>
        <span className="c-status">Status</span>
        <span className="c-ws">Workspace</span>
        <span className="c-age">Age</span>
        <span className="c-cost">Cost</span>
        <span className="c-tokens">Tokens</span>
      </div>
      <div ref={scroller} className="run-list" tabIndex={0} aria-label="Runs (j/k to move, Enter to open)">
        {rows.length === 0 ? (
          <div className="empty">{mode === "loading" ? "Loading runs…" : "No runs match."}</div>
        ) : (
          <div style={{ height: v.getTotalSize(), position: "relative" }}>
            {v.getVirtualItems().map((vi) => {
              const row = rows[vi.index];
              return (
                <div key={vi.key} className="run-slot" style={{ position: "absolute", top: 0, left: 0, right: 0, height: vi.size, transform: `translateY(${vi.start}px)` }}>
                  {row?.kind === "group" ? (
                    <div className="group-row">
                      {row.label.replace("_", " ")} <span className="muted">{row.count}</span>
                    </div>
                  ) : row ? (
                    <RunRow run={row.run} job={jobs.get(row.run.id)} usage={state.usage[row.run.id]} selected={vi.index === cursor} />
                  ) : null}
                </div>
              );
            })}
          </div>
        )}
      </div>
    </div>
  );
}
