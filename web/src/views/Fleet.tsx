// The fleet: runners and their pools, the agent CLIs each found, the
// providers with their runs and quota holds, and the scheduler's limits.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { useAction } from "../components/useAction";
import { age, clock, shortId } from "../format";
import { useBoard } from "../live/BoardContext";

export function FleetView() {
  const { api } = useBoard();
  const runners = useQuery({ queryKey: ["runners"], queryFn: () => api.runners(), refetchInterval: 5000 });
  const caps = useQuery({ queryKey: ["capabilities"], queryFn: () => api.capabilities(), refetchInterval: 30000 });
  const providers = useQuery({ queryKey: ["providers"], queryFn: () => api.providers(), refetchInterval: 5000 });
  const queue = useQuery({ queryKey: ["queue"], queryFn: () => api.queue({ limit: 1000 }), refetchInterval: 5000 });
  const refresh = useAction<unknown>();
  const limits = queue.data?.limits;
  return (
    <div>
      <PageHeader title="Fleet">
        <button type="button" disabled={refresh.busy} onClick={() => refresh.run(() => api.refreshCapabilities()).then(() => caps.refetch())}>
          Detect agent CLIs again
        </button>
      </PageHeader>
      <ProblemNote error={refresh.error} />
      <section>
        <h2>Runners</h2>
        <ProblemNote error={runners.error} />
        {runners.isLoading ? <Loading what="runners" /> : null}
        <table className="table">
          <thead>
            <tr>
              <th>Runner</th>
              <th>Host</th>
              <th>Pool</th>
              <th>Status</th>
              <th className="num">Slots</th>
              <th>Running</th>
              <th>Last seen</th>
              <th>Version</th>
            </tr>
          </thead>
          <tbody>
            {(runners.data?.runners ?? []).map((r) => (
              <tr key={r.runnerId}>
                <td>
                  <code>{r.runnerId}</code>
                </td>
                <td>{r.host}</td>
                <td>{r.pool}</td>
                <td>
                  <span className={`badge badge-${r.status === "active" ? "good" : r.status === "lost" ? "bad" : "muted"}`}>{r.status}</span>
                </td>
                <td className="num">
                  {r.running.length}/{r.slots}
                </td>
                <td>
                  {r.running.map((id) => (
                    <Link key={id} to={`/runs/${id}`} className="tag">
                      {shortId(id)}
                    </Link>
                  ))}
                </td>
                <td>{age(r.lastSeen)} ago</td>
                <td>{r.version}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Providers and holds</h2>
        <ProblemNote error={providers.error} />
        <table className="table">
          <thead>
            <tr>
              <th>Provider</th>
              <th className="num">Queued</th>
              <th className="num">Retrying</th>
              <th className="num">Running</th>
              <th className="num">Limit</th>
              <th>Hold</th>
            </tr>
          </thead>
          <tbody>
            {(providers.data?.providers ?? []).map((p) => (
              <tr key={p.provider}>
                <td>{p.provider}</td>
                <td className="num">{p.queued}</td>
                <td className="num">{p.retrying}</td>
                <td className="num">{p.running}</td>
                <td className="num">{limits?.providers?.[p.provider] ?? limits?.maxPerProvider ?? "—"}</td>
                <td>
                  {p.held && p.lastHold ? (
                    <span className="badge badge-warn" title={p.lastHold.message ?? undefined}>
                      held until {clock(p.lastHold.until)} ({p.lastHold.reason ?? "quota"}
                      {p.lastHold.resetKnown === false ? ", estimated" : ""})
                    </span>
                  ) : p.lastHold ? (
                    <span className="muted">
                      last hold ended {p.lastHold.releasedAt ? `${age(p.lastHold.releasedAt)} ago` : ""} ({p.holds} in all)
                    </span>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {limits ? (
          <p className="muted">
            Scheduler{queue.data?.instance ? ` ${queue.data.instance}` : ""}: at most {limits.maxRunning} running, {limits.maxPerProvider} per provider, capacity{" "}
            {limits.capacity}; {queue.data?.running ?? 0} running, {queue.data?.pending ?? 0} pending.
          </p>
        ) : null}
      </section>
      <section>
        <h2>Agent CLIs</h2>
        <ProblemNote error={caps.error} />
        <table className="table">
          <thead>
            <tr>
              <th>Agent</th>
              <th>Runner</th>
              <th>Support</th>
              <th>Version</th>
              <th>Models</th>
              <th>Options honoured</th>
            </tr>
          </thead>
          <tbody>
            {(caps.data?.capabilities ?? []).map((c) => (
              <tr key={`${c.runnerId}-${c.agent}`}>
                <td>{c.agent}</td>
                <td>{c.host}</td>
                <td>
                  <span
                    className={`badge badge-${c.support === "supported" ? "good" : c.support === "degraded" ? "warn" : "bad"}`}
                    title={c.reason ?? (c.install ? `install: ${c.install}` : undefined)}
                  >
                    {c.support}
                  </span>
                </td>
                <td>{c.version ?? "—"}</td>
                <td>{c.models.join(", ")}</td>
                <td className="small">{c.options.join(", ")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
