// @vitest-environment node
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { fixtureNames, fixturesDir } from "./fixtures";

// The transcripts are copies of the runner's parser test data (the shared
// reference transcripts); the semantic fixtures are written from them by the
// runner's TestDashboardFixturesMatchTheParsers, which also fails when they
// drift from its parsers.
const runnerTranscripts = path.resolve(fixturesDir, "../../../../services/runner/internal/domain/agentoutput/testdata/transcripts");

describe("the transcript fixtures", () => {
  it("are the runner's transcripts, byte for byte", () => {
    const names = fixtureNames();
    expect(names.length).toBeGreaterThanOrEqual(17);
    for (const name of names) {
      const ours = readFileSync(path.join(fixturesDir, "transcripts", `${name}.ndjson`));
      const theirs = readFileSync(path.join(runnerTranscripts, `${name}.ndjson`));
      expect(ours.equals(theirs), name).toBe(true);
    }
  });
});
