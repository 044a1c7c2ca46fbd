// Conversations: threads of runs on one provider session.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { StatusBadge } from "../components/StatusBadge";
import { useAction } from "../components/useAction";
import { age, basename, shortId } from "../format";
import { useBoard } from "../live/BoardContext";

export function ConversationsView() {
  const { api } = useBoard();
  const [archived, setArchived] = useState(false);
  const q = useQuery({ queryKey: ["conversations", archived], queryFn: () => api.conversations(archived), refetchInterval: 10000 });
  return (
    <div>
      <PageHeader title="Conversations">
        <label className="check">
          <input type="checkbox" checked={archived} onChange={(e) => setArchived(e.target.checked)} /> Archived too
        </label>
      </PageHeader>
      <ProblemNote error={q.error} />
      {q.isLoading ? <Loading what="conversations" /> : null}
      <table className="table">
        <thead>
          <tr>
            <th>Title</th>
            <th>Agent</th>
            <th>Workspace</th>
            <th className="num">Messages</th>
            <th>Active</th>
          </tr>
        </thead>
        <tbody>
          {(q.data?.conversations ?? []).map((c) => (
            <tr key={c.id}>
              <td>
                <Link to={`/conversations/${c.id}`}>{c.title || shortId(c.id)}</Link>
                {c.archived ? <span className="badge badge-muted">archived</span> : null}
              </td>
              <td>{c.agent}</td>
              <td title={c.workspace}>{basename(c.workspace)}</td>
              <td className="num">{c.messageCount}</td>
              <td>{age(c.updatedAt)} ago</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ConversationView() {
  const { id = "" } = useParams();
  const { api, state } = useBoard();
  const qc = useQueryClient();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: ["conversation", id], queryFn: () => api.conversation(id), refetchInterval: 5000 });
  const act = useAction<unknown>();
  const [text, setText] = useState("");
  if (q.isLoading) return <Loading what="the conversation" />;
  if (!q.data) return <ProblemNote error={q.error} />;
  const c = q.data;
  const send = async (e: FormEvent) => {
    e.preventDefault();
    const r = (await act.run(() => api.sendMessage(c.id, text))) as { id?: string } | undefined;
    if (r?.id) {
      setText("");
      void qc.invalidateQueries({ queryKey: ["conversation", id] });
      navigate(`/runs/${r.id}`);
    }
  };
  return (
    <div>
      <PageHeader title={c.title || shortId(c.id)}>
        {!c.archived ? (
          <button type="button" onClick={() => act.run(() => api.archiveConversation(c.id)).then(() => qc.invalidateQueries({ queryKey: ["conversation", id] }))}>
            Archive
          </button>
        ) : (
          <span className="badge badge-muted">archived</span>
        )}
      </PageHeader>
      <p className="muted">
        {c.agent} · {c.workspace}
        {c.model ? ` · ${c.model}` : ""} {c.providerSessionId ? `· session ${c.providerSessionId}` : ""}
      </p>
      <ol className="thread">
        {c.runs.map((r) => {
          const live = state.runs[r.runId];
          return (
            <li key={r.runId} className="card">
              <div className="msg msg-user">
                <div className="msg-who">
                  You · <Link to={`/runs/${r.runId}`}>{shortId(r.runId)}</Link> <StatusBadge status={live?.status ?? r.status ?? "requested"} />
                </div>
                <div className="msg-text">{r.text}</div>
              </div>
              {(live?.result ?? r.result) ? (
                <div className="msg msg-assistant">
                  <div className="msg-who">{c.agent}</div>
                  <div className="msg-text">{live?.result ?? r.result}</div>
                </div>
              ) : null}
            </li>
          );
        })}
      </ol>
      {!c.archived ? (
        <form className="send" onSubmit={send}>
          <label htmlFor="conv-next" className="sr-only">
            Next message
          </label>
          <textarea id="conv-next" rows={2} value={text} onChange={(e) => setText(e.target.value)} placeholder="Next message…" />
          <button type="submit" className="primary" disabled={act.busy || !text.trim()}>
            Send
          </button>
        </form>
      ) : null}
      <ProblemNote error={act.error} />
    </div>
  );
}
