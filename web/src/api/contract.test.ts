// @vitest-environment node
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { eventTypes, openapiTypes } from "../../scripts/gen-api.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const fix = "run `npm run gen` in web/ and fix what the compiler then reports";

describe("the generated API types", () => {
  it("are what contracts/openapi.yaml gives", async () => {
    const have = readFileSync(path.join(here, "openapi.gen.ts"), "utf8");
    expect(have === (await openapiTypes()), `src/api/openapi.gen.ts drifted from contracts/openapi.yaml: ${fix}`).toBe(true);
  });

  it("are what contracts/schemas/events gives", async () => {
    const have = readFileSync(path.join(here, "events.gen.ts"), "utf8");
    expect(have === (await eventTypes()), `src/api/events.gen.ts drifted from contracts/schemas/events: ${fix}`).toBe(true);
  });
});
