// @vitest-environment node
import { describe, expect, it } from "vitest";
import { appendEvents, emptyLog } from "./runlog";
import { fixtureRun } from "../test/fixtures";

describe("a run's event log", () => {
  const events = fixtureRun("codex_exec_command");

  it("keeps every event once, in sequence order, whatever the arrival", () => {
    const shuffled = [...events].reverse();
    let log = emptyLog;
    for (let i = 0; i < shuffled.length; i += 3) log = appendEvents(log, shuffled.slice(i, i + 3));
    log = appendEvents(log, events.slice(0, 5)); // repeats
    expect(log.events.map((e) => e.seq)).toEqual(events.map((e) => e.seq));
    expect(log.lastSeq).toBe(events.length);
  });

  it("reports appends at the end as in order, and an insertion before the end as not", () => {
    let log = appendEvents(emptyLog, events.slice(0, 4));
    expect(log).toMatchObject({ inOrder: true, appended: 4 });
    log = appendEvents(log, events.slice(6, 8));
    expect(log).toMatchObject({ inOrder: true, appended: 2 });
    log = appendEvents(log, events.slice(4, 6));
    expect(log.inOrder).toBe(false);
    const same = appendEvents(log, events.slice(0, 8));
    expect(same.events).toBe(log.events);
    expect(same.appended).toBe(0);
  });
});
