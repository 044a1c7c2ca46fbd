// @vitest-environment node
import { describe, expect, it } from "vitest";
import { boardReducer, emptyBoard } from "./board";
import { countWaiting, noticeFor, titleFor } from "./notify";
import type { BoardRun } from "./runstate";
import { EventMaker, fixtureRun } from "../test/fixtures";

describe("notices and the tab's title", () => {
  const log = fixtureRun("claude_http400", {}, new EventMaker("01JNOTICE00000000000000000"));
  const at = (n: number) => boardReducer(emptyBoard, { type: "events", events: log.slice(0, n) }).runs["01JNOTICE00000000000000000"] as BoardRun;

  it("tells when a run fails, once, and nothing while it runs", () => {
    expect(noticeFor(at(4), at(5))).toBeUndefined();
    const n = noticeFor(at(log.length - 1), at(log.length));
    expect(n).toMatchObject({ title: "00000000 (claude) failed", tag: "phantom-01JNOTICE00000000000000000" });
    expect(n?.body).toContain("api_error");
    expect(noticeFor(at(log.length), at(log.length))).toBeUndefined();
  });

  it("tells when a run waits for input, and counts those in the title", () => {
    const base = at(4);
    const waiting = { ...base, status: "awaiting_input" as const };
    expect(noticeFor(base, waiting)?.title).toContain("waits for input");
    expect(countWaiting({ a: waiting, b: base }, ["a", "b"])).toBe(1);
    expect(titleFor(2, "Runs")).toBe("(2) Runs · Phantom");
    expect(titleFor(0, "")).toBe("Phantom");
  });
});
