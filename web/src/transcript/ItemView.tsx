// One entry of a run's transcript.
import { memo, useState } from "react";
import type { Item, PolicyDecision } from "./model";
import { commandOf } from "./model";

const resultPreviewLines = 16;

function json(v: unknown): string {
  if (typeof v === "string") return v;
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

/** toolSummary is the one line that says what a tool call does. */
export function toolSummary(name: string, input: unknown): string {
  const cmd = commandOf(input);
  if (cmd !== undefined) return cmd;
  if (input && typeof input === "object" && !Array.isArray(input)) {
    const o = input as Record<string, unknown>;
    for (const k of ["file_path", "path", "notebook_path", "pattern", "url", "query", "description", "prompt"]) {
      if (typeof o[k] === "string") return o[k] as string;
    }
    if (Array.isArray(o.changes)) {
      return (o.changes as { path?: string; kind?: string }[]).map((c) => `${c.kind ?? ""} ${c.path ?? ""}`.trim()).join(", ");
    }
  }
  return name;
}

function GuardBadge({ d }: { d: PolicyDecision }) {
  const blocked = d.decision === "block";
  return (
    <span className={`badge ${blocked ? "badge-bad" : "badge-good"}`} title={d.reason ?? undefined}>
      guard: {blocked ? "blocked" : "allowed"}
      {d.rule ? ` (${d.rule})` : ""}
    </span>
  );
}

function Result({ text, error }: { text: string; error: boolean }) {
  const lines = text.split("\n");
  const [all, setAll] = useState(false);
  const shown = all ? text : lines.slice(0, resultPreviewLines).join("\n");
  return (
    <div className={`tool-result ${error ? "is-error" : ""}`}>
      <pre>{shown}</pre>
      {lines.length > resultPreviewLines ? (
        <button type="button" className="link" onClick={() => setAll(!all)}>
          {all ? "Show less" : `Show all ${lines.length} lines`}
        </button>
      ) : null}
    </div>
  );
}

function ItemViewImpl({ item, agent }: { item: Item; agent: string }) {
  switch (item.kind) {
    case "prompt":
      return (
        <div className="msg msg-user">
          <div className="msg-who">Prompt</div>
          <div className="msg-text">{item.text}</div>
        </div>
      );
    case "user":
      return (
        <div className="msg msg-user">
          <div className="msg-who">{item.source === "input" ? "You" : "User"}</div>
          <div className="msg-text">{item.text}</div>
        </div>
      );
    case "assistant":
      return (
        <div className="msg msg-assistant">
          <div className="msg-who">
            {agent}
            {item.model ? <span className="muted"> · {item.model}</span> : null}
          </div>
          <div className="msg-text">{item.text}</div>
        </div>
      );
    case "thinking":
      return (
        <details className="msg msg-thinking">
          <summary>Thinking ({item.text.length} characters)</summary>
          <div className="msg-text">{item.text}</div>
        </details>
      );
    case "tool":
      return (
        <div className={`tool tool-${item.status}`}>
          <div className="tool-head">
            <span className="tool-name">{item.name}</span>
            <code className="tool-summary">{toolSummary(item.name, item.input)}</code>
            <span className={`badge badge-${item.status === "running" ? "live" : item.status === "error" ? "bad" : "good"}`}>
              {item.status}
            </span>
            {item.guard.map((d) => (
              <GuardBadge key={d.seq} d={d} />
            ))}
          </div>
          {item.guard
            .filter((d) => d.decision === "block")
            .map((d) => (
              <div key={d.seq} className="tool-guard">
                The safety guard blocked <code>{d.segment || d.command}</code>
                {d.reason ? `: ${d.reason}` : ""}
              </div>
            ))}
          {item.input !== null && item.input !== undefined ? (
            <details className="tool-input">
              <summary>Input</summary>
              <pre>{json(item.input)}</pre>
            </details>
          ) : null}
          {item.result !== undefined && item.result !== "" ? <Result text={item.result} error={item.status === "error"} /> : null}
        </div>
      );
    case "guard":
      if (item.attachedTo) return <div className="attached" />;
      return (
        <div className={`note ${item.decision.decision === "block" ? "note-bad" : "note-info"}`}>
          Safety guard {item.decision.decision === "block" ? "blocked" : "allowed"} <code>{item.decision.command}</code>
          {item.decision.origin ? ` (asked by ${item.decision.origin})` : ""}
          {item.decision.rule ? ` · ${item.decision.rule}` : ""}
          {item.decision.reason ? `: ${item.decision.reason}` : ""}
        </div>
      );
    case "error":
      return (
        <div className={`note ${item.fatal ? "note-bad" : "note-warn"}`} role={item.fatal ? "alert" : undefined}>
          <strong>{item.fatal ? "Error" : "Notice"}</strong>
          {item.subtype ? <span className="muted"> ({item.subtype})</span> : null}: {item.text}
        </div>
      );
    case "result":
      if (item.repeatsLast && !item.isError) {
        return <div className="note note-good">Turn finished{item.subtype ? ` (${item.subtype})` : ""}</div>;
      }
      return (
        <div className={`msg ${item.isError ? "msg-error" : "msg-result"}`}>
          <div className="msg-who">{item.isError ? "Ended with an error" : "Result"}{item.subtype ? ` · ${item.subtype}` : ""}</div>
          <div className="msg-text">{item.text}</div>
        </div>
      );
    case "structured":
      return (
        <div className="msg msg-result">
          <div className="msg-who">Structured output</div>
          <pre>{json(item.output)}</pre>
        </div>
      );
    case "structured_invalid":
      return (
        <div className="note note-bad">
          The result does not match the output schema:
          <ul>
            {item.errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      );
    case "event":
      return <div className={`event event-${item.tone}`}>{item.text}</div>;
  }
}

export const ItemView = memo(ItemViewImpl);
