// What a person can do with a run: cancel, pause or resume, rerun, send
// the next turn or message, land, archive, export.
import { useState, type FormEvent } from "react";
import { useNavigate } from "react-router";
import { exportFormats, type LandRequest, type Landed } from "../api/pending";
import { exportUrl, type Endpoints } from "../api/endpoints";
import { isTerminal } from "../api/types";
import { ProblemNote } from "../components/common";
import { useAction } from "../components/useAction";
import type { BoardRun } from "../live/runstate";

export function RunActions({ run, api, session }: { run: BoardRun; api: Endpoints; session?: string }) {
  const navigate = useNavigate();
  const act = useAction<unknown>();
  const [landing, setLanding] = useState(false);
  const ended = isTerminal(run.status);
  const running = run.status === "running" || run.status === "awaiting_input";
  const go = (id?: string) => id && navigate(`/runs/${id}`);
  return (
    <div className="actions" role="toolbar" aria-label="Run actions">
      {!ended ? (
        <button type="button" disabled={act.busy} onClick={() => act.run(() => api.cancelRun(run.id, "canceled from the dashboard"))}>
          Cancel
        </button>
      ) : null}
      {run.status === "running" ? (
        <button type="button" disabled={act.busy} onClick={() => act.run(() => api.pauseRun(run.id))}>
          Pause
        </button>
      ) : null}
      {run.status === "paused" ? (
        <button type="button" disabled={act.busy} onClick={() => act.run(() => api.resumeRun(run.id))}>
          Resume
        </button>
      ) : null}
      {ended ? (
        <button type="button" disabled={act.busy} onClick={async () => go(((await act.run(() => api.rerunRun(run.id))) as { id?: string })?.id)}>
          Rerun
        </button>
      ) : null}
      {run.spec?.interactive && running ? (
        <button type="button" disabled={act.busy} onClick={() => act.run(() => api.endSession(run.id))}>
          End session
        </button>
      ) : null}
      {ended && run.status === "completed" ? (
        <button type="button" className="primary" onClick={() => setLanding(!landing)} aria-expanded={landing}>
          Land…
        </button>
      ) : null}
      {ended && !run.archived ? (
        <button
          type="button"
          disabled={act.busy}
          onClick={() => {
            if (confirm("Archive this run? Its worktree is removed; its branch and checkpoints are kept for the retention period.")) {
              void act.run(() => api.archiveRun(run.id));
            }
          }}
        >
          Archive
        </button>
      ) : null}
      <span className="export">
        Export:{" "}
        {exportFormats.map((f) => (
          <a key={f} href={exportUrl(run.id, f)} download={`${run.name || run.id}.${f === "md" ? "md" : f}`}>
            {f}
          </a>
        ))}
      </span>
      <ProblemNote error={act.error} />
      {landing ? <LandForm run={run} api={api} onDone={() => setLanding(false)} /> : null}
      <SendNext run={run} api={api} session={session} />
    </div>
  );
}

function LandForm({ run, api, onDone }: { run: BoardRun; api: Endpoints; onDone: () => void }) {
  const act = useAction<Landed>();
  const [req, setReq] = useState<LandRequest>({ strategy: "squash", into: "", message: "", push: false, pr: false });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body: LandRequest = { strategy: req.strategy };
    if (req.into) body.into = req.into;
    if (req.message) body.message = req.message;
    if (req.push) body.push = true;
    if (req.pr) body.pr = true;
    await act.run(() => api.landRun(run.id, body));
  };
  const conflict = act.error as { problem?: { files?: string[] } } | undefined;
  return (
    <form className="card land" onSubmit={submit} aria-label="Land the run">
      <fieldset>
        <legend>Land the run's changes</legend>
        <label>
          How
          <select value={req.strategy} onChange={(e) => setReq({ ...req, strategy: e.target.value as LandRequest["strategy"] })}>
            <option value="squash">Squash into one commit</option>
            <option value="merge">Merge the branch</option>
            <option value="rebase">Rebase onto the target</option>
          </select>
        </label>
        <label>
          Into branch
          <input value={req.into} placeholder="the branch the run started from" onChange={(e) => setReq({ ...req, into: e.target.value })} />
        </label>
        <label>
          Commit message
          <textarea value={req.message} placeholder="from the prompt and the result" rows={3} onChange={(e) => setReq({ ...req, message: e.target.value })} />
        </label>
        <label className="check">
          <input type="checkbox" checked={req.push} onChange={(e) => setReq({ ...req, push: e.target.checked })} /> Push to the remote
        </label>
        <label className="check">
          <input type="checkbox" checked={req.pr} onChange={(e) => setReq({ ...req, pr: e.target.checked })} /> Open a pull request
        </label>
      </fieldset>
      <div className="row">
        <button type="submit" className="primary" disabled={act.busy}>
          Land
        </button>
        <button type="button" onClick={onDone}>
          Close
        </button>
      </div>
      <ProblemNote error={act.error} what="Not landed" />
      {conflict?.problem?.files?.length ? (
        <ul className="conflicts" aria-label="Conflicting files">
          {conflict.problem.files.map((f) => (
            <li key={f}>
              <code>{f}</code>
            </li>
          ))}
        </ul>
      ) : null}
      {act.result ? (
        <div className="note note-good" role="status">
          Landed {act.result.commit.slice(0, 10)} on {act.result.target}
          {act.result.pushedRef ? `, pushed ${act.result.pushedRef}` : ""}
          {act.result.prUrl ? (
            <>
              , <a href={act.result.prUrl}>pull request</a>
            </>
          ) : null}
        </div>
      ) : null}
    </form>
  );
}

/**
 * SendNext sends what the person types next: input to an interactive
 * session that runs, a message to the run's conversation, or else a
 * follow-up run that resumes the agent's provider session.
 */
function SendNext({ run, api, session }: { run: BoardRun; api: Endpoints; session?: string }) {
  const navigate = useNavigate();
  const act = useAction<unknown>();
  const [text, setText] = useState("");
  const live = run.status === "running" || run.status === "awaiting_input";
  const ended = isTerminal(run.status);
  let mode: "input" | "conversation" | "session-resume" | "follow-up" | undefined;
  if (run.spec?.interactive && live) mode = "input";
  else if (run.conversationId && ended) mode = "conversation";
  else if (run.spec?.interactive && ended) mode = "session-resume";
  else if (ended && session) mode = "follow-up";
  if (!mode) return null;
  const label = {
    input: "Send the next turn",
    conversation: "Send the next message",
    "session-resume": "Resume the session with",
    "follow-up": "Follow up in the same agent session",
  }[mode];
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!text.trim()) return;
    let sent: unknown;
    if (mode === "input") {
      sent = await act.run(() => api.sendInput(run.id, text));
    } else if (mode === "conversation" && run.conversationId) {
      sent = await act.run(() => api.sendMessage(run.conversationId as string, text));
    } else if (mode === "session-resume") {
      sent = await act.run(() => api.resumeSession(run.id, text));
    } else {
      const harness = { ...(run.spec?.harness ?? {}), resumeSessionId: session };
      sent = await act.run(() => api.rerunRun(run.id, { prompt: text, harness }));
    }
    if (sent === undefined) return;
    setText("");
    const next = mode === "input" ? undefined : (sent as { id?: string }).id;
    if (next) navigate(`/runs/${next}`);
  };
  return (
    <form className="send" onSubmit={submit}>
      <label htmlFor="send-next" className="sr-only">
        {label}
      </label>
      <textarea
        id="send-next"
        rows={2}
        value={text}
        placeholder={`${label}… (Ctrl+Enter)`}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
      />
      <button type="submit" className="primary" disabled={act.busy || !text.trim()}>
        Send
      </button>
      <ProblemNote error={act.error} />
    </form>
  );
}
