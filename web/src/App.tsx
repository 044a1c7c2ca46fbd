// The dashboard's shell: navigation, the live board state every view
// shares, the tab's title (how many runs wait for input) and the keyboard
// shortcuts (g then b/n/c/f/u/p/s to go to a view, / to search).
import { lazy, Suspense, useCallback, useEffect, useRef, useState } from "react";
import { NavLink, Route, Routes, useNavigate } from "react-router";
import { PageTitleContext } from "./components/common";
import { BoardProvider, useBoard } from "./live/BoardContext";
import { countWaiting, titleFor } from "./live/notify";
import { BoardView } from "./views/Board";
import { ConversationView, ConversationsView } from "./views/Conversations";
import { FleetView } from "./views/Fleet";
import { GuardView } from "./views/GuardView";
import { NewRunView } from "./views/NewRun";
import { RunView } from "./views/RunView";
import { SettingsView } from "./views/SettingsView";
import { SignInView, SignedOut } from "./views/SignIn";
import type { Endpoints } from "./api/endpoints";

// The charts library is the largest dependency: it loads with the Usage view.
const UsageView = lazy(() => import("./views/UsageView").then((m) => ({ default: m.UsageView })));

const nav = [
  ["/", "Runs", "b"],
  ["/new", "New run", "n"],
  ["/conversations", "Conversations", "c"],
  ["/fleet", "Fleet", "f"],
  ["/usage", "Usage", "u"],
  ["/guard", "Guard", "p"],
  ["/settings", "Settings", "s"],
] as const;

function useShortcuts() {
  const navigate = useNavigate();
  const pendingG = useRef(false);
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (e.ctrlKey || e.metaKey || e.altKey || t?.closest("input, textarea, select, [contenteditable]")) return;
      if (e.key === "/") {
        const search = document.querySelector<HTMLInputElement>('[data-hotkey="/"]');
        if (search) {
          e.preventDefault();
          search.focus();
        }
        return;
      }
      if (pendingG.current) {
        pendingG.current = false;
        const target = nav.find(([, , key]) => key === e.key);
        if (target) {
          e.preventDefault();
          navigate(target[0]);
        }
        return;
      }
      if (e.key === "g") pendingG.current = true;
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [navigate]);
}

function Shell() {
  const { state, mode } = useBoard();
  const [page, setPage] = useState("");
  const waiting = countWaiting(state.runs, state.ids);
  useEffect(() => {
    document.title = titleFor(waiting, page);
  }, [waiting, page]);
  useShortcuts();
  const setTitle = useCallback((t: string) => setPage(t), []);
  return (
    <PageTitleContext.Provider value={setTitle}>
      <div className="app">
        <a className="skip" href="#main">
          Skip to content
        </a>
        <nav className="side" aria-label="Views">
          <div className="brand">Phantom</div>
          <ul>
            {nav.map(([to, label, key]) => (
              <li key={to}>
                <NavLink to={to} end={to === "/"} title={`g ${key}`}>
                  {label}
                  {to === "/" && waiting > 0 ? <span className="count" aria-label={`${waiting} waiting for input`}>{waiting}</span> : null}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          {mode === "signed-out" ? (
            <SignedOut />
          ) : (
            <Routes>
              <Route path="/" element={<BoardView />} />
              <Route path="/new" element={<NewRunView />} />
              <Route path="/runs/:id" element={<RunView />} />
              <Route path="/conversations" element={<ConversationsView />} />
              <Route path="/conversations/:id" element={<ConversationView />} />
              <Route path="/fleet" element={<FleetView />} />
              <Route
                path="/usage"
                element={
                  <Suspense fallback={<div className="empty">Loading…</div>}>
                    <UsageView />
                  </Suspense>
                }
              />
              <Route path="/guard" element={<GuardView />} />
              <Route path="/settings" element={<SettingsView />} />
              <Route path="*" element={<div className="empty">No such page.</div>} />
            </Routes>
          )}
        </main>
      </div>
    </PageTitleContext.Provider>
  );
}

export function App({ api, fetch }: { api?: Endpoints; fetch?: typeof globalThis.fetch }) {
  return (
    <Routes>
      <Route path="/sign-in" element={<SignInView />} />
      <Route
        path="*"
        element={
          <BoardProvider api={api} fetch={fetch}>
            <Shell />
          </BoardProvider>
        }
      />
    </Routes>
  );
}
