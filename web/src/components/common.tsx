// Small pieces every view uses.
import { createContext, useContext, useEffect, type ReactNode } from "react";
import { ApiError } from "../api/client";

/** PageTitle lets the shell put the page's name and the number of waiting runs in the tab's title. */
export const PageTitleContext = createContext<(title: string) => void>(() => {});

export function usePageTitle(title: string) {
  const set = useContext(PageTitleContext);
  useEffect(() => set(title), [set, title]);
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  usePageTitle(title);
  return (
    <header className="page-header">
      <h1>{title}</h1>
      <div className="page-actions">{children}</div>
    </header>
  );
}

/** Problem shows why a call failed, with the API's own words. */
export function ProblemNote({ error, what }: { error: unknown; what?: string }) {
  if (!error) return null;
  const e = error as Error;
  const pending = error instanceof ApiError && (error.status === 404 || error.status === 405) && !error.problem?.instance;
  return (
    <div className={`note ${pending ? "note-info" : "note-bad"}`} role="alert">
      {what ? `${what}: ` : ""}
      {pending ? "the gateway does not serve this yet." : e.message}
      {error instanceof ApiError && error.code ? <span className="muted"> ({error.code})</span> : null}
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="empty" role="status">
      Loading {what}…
    </div>
  );
}
