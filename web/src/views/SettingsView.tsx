// Settings: the gateway's settings document (GET /v1/settings), edited
// field by field and sent as a merge patch (PATCH /v1/settings); a refusal
// is shown next to the field it names. Below, this browser's own choices.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState, type FormEvent } from "react";
import { ApiError, Client } from "../api/client";
import { Field } from "../components/Field";
import { Loading, PageHeader, ProblemNote } from "../components/common";
import { useAction } from "../components/useAction";
import { useBoard } from "../live/BoardContext";
import { notifyPreferenceKey } from "../live/notify";
import { leaves, mergePatch, parseLeaf, type Leaf } from "./settingsPatch";

export function SettingsView() {
  const { api } = useBoard();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ["settings"], queryFn: () => api.settings() });
  const fields = useMemo(() => leaves(q.data ?? {}), [q.data]);
  const [changes, setChanges] = useState<Record<string, Leaf>>({});
  const act = useAction<unknown>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await act.run(() => api.updateSettings(mergePatch(changes)));
    if (r !== undefined) {
      setChanges({});
      void qc.invalidateQueries({ queryKey: ["settings"] });
    }
  };
  const apiField = act.error instanceof ApiError ? act.error.field : undefined;
  const groups = new Map<string, typeof fields>();
  for (const f of fields) {
    const g = f.path.includes(".") ? f.path.split(".")[0] as string : "general";
    groups.set(g, [...(groups.get(g) ?? []), f]);
  }
  return (
    <div>
      <PageHeader title="Settings" />
      <ProblemNote error={q.error} what="Settings" />
      {q.isLoading ? <Loading what="settings" /> : null}
      {q.data ? (
        <form className="form" onSubmit={submit}>
          {[...groups.entries()].map(([g, fs]) => (
            <fieldset key={g}>
              <legend>{g}</legend>
              <div className="grid-3">
                {fs.map((f) => {
                  const value = f.path in changes ? changes[f.path] : f.value;
                  const error = apiField === f.path ? (act.error as Error).message : undefined;
                  const onChange = (typed: string | boolean) => setChanges((c) => ({ ...c, [f.path]: parseLeaf(f.value, typed) }));
                  return (
                    <Field key={f.path} name={f.path} label={f.path.split(".").slice(1).join(".") || f.path} error={error}>
                      {typeof f.value === "boolean" ? (
                        <input type="checkbox" checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />
                      ) : (
                        <input type={typeof f.value === "number" ? "number" : "text"} value={value === null ? "" : String(value)} onChange={(e) => onChange(e.target.value)} />
                      )}
                    </Field>
                  );
                })}
              </div>
            </fieldset>
          ))}
          {act.error && !fields.some((f) => f.path === apiField) ? <ProblemNote error={act.error} what="Not saved" /> : null}
          <button type="submit" className="primary" disabled={act.busy || Object.keys(changes).length === 0}>
            Save {Object.keys(changes).length || ""} change{Object.keys(changes).length === 1 ? "" : "s"}
          </button>
        </form>
      ) : null}
      <BrowserSettings />
    </div>
  );
}

function BrowserSettings() {
  const [on, setOn] = useState(() => localStorage.getItem(notifyPreferenceKey) === "on");
  const [permission, setPermission] = useState(() => (typeof Notification === "undefined" ? "unsupported" : Notification.permission));
  const toggle = async (want: boolean) => {
    if (want && typeof Notification !== "undefined" && Notification.permission !== "granted") {
      setPermission(await Notification.requestPermission());
    }
    localStorage.setItem(notifyPreferenceKey, want ? "on" : "off");
    setOn(want);
  };
  return (
    <section className="card">
      <h2>This browser</h2>
      <label className="check">
        <input type="checkbox" checked={on} disabled={permission === "unsupported"} onChange={(e) => void toggle(e.target.checked)} /> Notify me when a run ends,
        fails or waits for input
      </label>
      {permission === "denied" ? <div className="note note-warn">The browser blocks notifications for this page: allow them in its site settings.</div> : null}
      <div className="row">
        <button
          type="button"
          onClick={async () => {
            await new Client().delete("/v1/session").catch(() => {});
            window.location.assign("/");
          }}
        >
          Sign out
        </button>
      </div>
    </section>
  );
}
