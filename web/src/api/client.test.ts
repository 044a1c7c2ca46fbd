// @vitest-environment node
import { describe, expect, it } from "vitest";
import { ApiError, Client } from "./client";

describe("the API client", () => {
  it("sends the CSRF cookie's value in X-Phantom-CSRF on state-changing calls only, with the session cookie", async () => {
    const seen: RequestInit[] = [];
    const c = new Client({
      cookies: () => "phantom_csrf=t0k3n",
      fetch: (async (_u: RequestInfo | URL, init?: RequestInit) => {
        seen.push(init ?? {});
        return new Response(JSON.stringify({ ok: true }), { status: 200, headers: { "Content-Type": "application/json" } });
      }) as typeof fetch,
    });
    await c.get("/v1/runs");
    await c.post("/v1/runs/x/cancel", { reason: "r" });
    expect(new Headers(seen[0]?.headers).get("X-Phantom-CSRF")).toBeNull();
    expect(new Headers(seen[1]?.headers).get("X-Phantom-CSRF")).toBe("t0k3n");
    expect(seen.every((i) => i.credentials === "same-origin")).toBe(true);
    expect(seen.some((i) => new Headers(i.headers).has("Authorization"))).toBe(false);
  });

  it("turns a problem document into an ApiError naming the field", async () => {
    const c = new Client({
      cookies: () => "",
      fetch: (async () =>
        new Response(JSON.stringify({ type: "about:blank", title: "Bad Request", status: 400, code: "invalid_request", field: "priority", detail: "priority must be in -10..10, got 11" }), {
          status: 400,
          headers: { "Content-Type": "application/problem+json" },
        })) as typeof fetch,
    });
    const err = await c.post("/v1/runs", {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).field).toBe("priority");
    expect((err as ApiError).message).toBe("priority must be in -10..10, got 11");
    expect((err as ApiError).code).toBe("invalid_request");
  });
});
