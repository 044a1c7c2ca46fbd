import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Endpoints } from "../api/endpoints";
import type { Queue, Run, RunEvent } from "../api/types";
import { clock } from "../format";
import { boardReducer, emptyBoard } from "../live/board";
import type { BoardRun } from "../live/runstate";
import { EventMaker, fixtureRun, sseFrames } from "../test/fixtures";
import { renderView } from "../test/render";
import { BoardView } from "./Board";

const running = fixtureRun("claude_bash_tool", { prompt: "Fix the flaky test" }, new EventMaker("01JRUNNING0000000000000000"));
const queuedLog = fixtureRun("codex_exec_command", { prompt: "Update the changelog" }, new EventMaker("01JQUEUED00000000000000000"));

/** rowAt folds a run's first n events, as the read model would have it. */
function rowAt(log: RunEvent[], n: number): Run {
  const s = boardReducer(emptyBoard, { type: "events", events: log.slice(0, n) });
  return s.runs[log[0]?.runId as string] as BoardRun;
}

const holdUntil = "2026-11-21T14:05:00Z";

function api(runs: Run[]): Partial<Endpoints> {
  const queue: Queue = {
    live: true,
    asOf: "2026-11-21T10:00:00Z",
    limits: null,
    pending: 1,
    running: 1,
    jobs: [
      {
        runId: "01JQUEUED00000000000000000",
        position: 1,
        attempt: 1,
        agent: "codex",
        provider: "codex",
        pool: "default",
        workspace: "/home/dev/project",
        priority: 0,
        effectivePriority: 0,
        queuedAt: "2026-11-21T10:00:00Z",
        waitMs: 1000,
        waiting: "provider_hold",
        holdUntil,
      },
    ],
  };
  return {
    listRuns: async () => ({ runs, nextCursor: null }),
    queue: async () => queue,
    getRun: async (id: string) => runs.find((r) => r.id === id) as Run,
  };
}

describe("the runs board", () => {
  it("shows every run with the queue's reason and follows the firehose from where the snapshot ends", async () => {
    const snapshot = [rowAt(running, 6), rowAt(queuedLog, 2)];
    const asked: (string | null)[] = [];
    const firehose = (async (_url: RequestInfo | URL, init?: RequestInit) => {
      asked.push(new Headers(init?.headers).get("Last-Event-ID"));
      if (asked.length > 1) return new Response(null, { status: 204 });
      // Renumber the rest of the running run's log after the snapshot.
      const rest = running.slice(6);
      return new Response(sseFrames(rest), { status: 200, headers: { "Content-Type": "text/event-stream" } });
    }) as typeof fetch;
    renderView("/", "/", <BoardView />, { api: api(snapshot), fetch: firehose });
    const queuedRow = (await screen.findByText("Update the changelog")).closest("a") as HTMLElement;
    expect(await within(queuedRow).findByText(new RegExp(`provider_hold until ${clock(holdUntil)}`))).toBeInTheDocument();
    const runRow = screen.getByText("Fix the flaky test").closest("a") as HTMLElement;
    await waitFor(() => expect(within(runRow).getByText("completed")).toBeInTheDocument());
    expect(within(runRow).getByText("$0.0024")).toBeInTheDocument();
    expect(asked[0]).toBe(String(snapshot[0]?.lastSeq));
  });

  it("filters by status and by agent, and polls when the gateway has no firehose", async () => {
    const snapshot = [rowAt(running, running.length), rowAt(queuedLog, 2)];
    const noFirehose = (async () => new Response(JSON.stringify({ code: "not_found", detail: "no route" }), { status: 404 })) as typeof fetch;
    renderView("/", "/", <BoardView />, { api: api(snapshot), fetch: noFirehose });
    await screen.findByText("Update the changelog");
    expect(await screen.findByText("polling")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: /^completed/ }));
    await waitFor(() => expect(screen.queryByText("Update the changelog")).toBeNull());
    expect(screen.getByText("Fix the flaky test")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: /^completed/ }));
    await userEvent.selectOptions(screen.getByLabelText("Agent"), "codex");
    await waitFor(() => expect(screen.queryByText("Fix the flaky test")).toBeNull());
    expect(screen.getByText("Update the changelog")).toBeInTheDocument();
  });
});
