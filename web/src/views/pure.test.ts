// @vitest-environment node
import { describe, expect, it } from "vitest";
import { leaves, mergePatch, parseLeaf } from "./settingsPatch";
import { totalsBy, usageSeries } from "./usageSeries";
import { agentChoices } from "./agents";
import { codeFromHash } from "./SignIn";
import { readCookie, url } from "../api/client";
import { waitReason } from "../format";

describe("settings as a merge patch", () => {
  it("edits leaves by path and sends only the changed ones, nested", () => {
    const doc = { scheduler: { maxRunning: 8, providers: { claude: 2 } }, guard: { mode: "strict" }, retries: { onTimeout: false } };
    expect(leaves(doc).map((l) => l.path)).toEqual(["scheduler.maxRunning", "scheduler.providers.claude", "guard.mode", "retries.onTimeout"]);
    expect(mergePatch({ "scheduler.providers.claude": 3, "guard.mode": "paranoid" })).toEqual({ scheduler: { providers: { claude: 3 } }, guard: { mode: "paranoid" } });
    expect(parseLeaf(8, "12")).toBe(12);
    expect(parseLeaf(false, true)).toBe(true);
  });
});

describe("usage charts", () => {
  it("stacks each day's values by key, filling gaps with zero", () => {
    const rows = [
      { day: "2026-11-20", model: "opus", inputTokens: 10, outputTokens: 5, costUsd: 1.5 },
      { day: "2026-11-20", model: "sonnet", inputTokens: 10, outputTokens: 5, costUsd: 0.5 },
      { day: "2026-11-21", model: "opus", inputTokens: 1, outputTokens: 1, costUsd: null },
    ];
    expect(usageSeries(rows, "model", "costUsd")).toEqual({
      keys: ["opus", "sonnet"],
      points: [
        { day: "2026-11-20", opus: 1.5, sonnet: 0.5 },
        { day: "2026-11-21", opus: 0, sonnet: 0 },
      ],
    });
    expect(totalsBy(rows, "model", "tokens")).toEqual([
      { key: "opus", value: 17 },
      { key: "sonnet", value: 15 },
    ]);
  });
});

describe("small things the views rely on", () => {
  it("keeps the best support of an agent across runners", () => {
    const base = { host: "h", command: "c", found: true, version: "1", reason: null, provider: null, defaultModel: null, planModel: null, install: null, models: [], options: [], updatedAt: "" };
    const out = agentChoices([
      { ...base, runnerId: "a", agent: "codex", support: "degraded" },
      { ...base, runnerId: "b", agent: "codex", support: "supported" },
      { ...base, runnerId: "a", agent: "claude", support: "blocked" },
    ]);
    expect(out.map((c) => [c.agent, c.support, c.runners, c.guard])).toEqual([
      ["codex", "supported", 2, "prelude-only"],
      ["claude", "blocked", 1, "hook"],
    ]);
  });

  it("reads the sign-in code from the fragment and the CSRF token from the cookies", () => {
    expect(codeFromHash("#code=abc123")).toBe("abc123");
    expect(codeFromHash("")).toBeUndefined();
    expect(readCookie("a=1; phantom_csrf=tok%3D; b=2", "phantom_csrf")).toBe("tok=");
    expect(url("/v1/runs", { status: ["queued", "running"], limit: 5, cursor: undefined })).toBe("/v1/runs?status=queued&status=running&limit=5");
  });

  it("writes why a queued run waits", () => {
    expect(waitReason({ waiting: "provider_limit" })).toBe("provider_limit");
    expect(waitReason({ waiting: "backoff" })).toBe("backoff");
    expect(waitReason({ waiting: "provider_hold", holdUntil: "2026-11-21T14:05:00" })).toBe("provider_hold until 14:05");
  });
});
