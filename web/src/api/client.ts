// The dashboard's HTTP client. The page is served by the gateway from the
// same origin as the API and signs in with an HttpOnly session cookie (see
// web/README.md): it never holds the bearer token. Every state-changing call
// carries the CSRF token the gateway put in the readable `phantom_csrf`
// cookie, in the X-Phantom-CSRF header.
import type { Problem } from "./types";

export const csrfCookie = "phantom_csrf";
export const csrfHeader = "X-Phantom-CSRF";

/** ApiError is a refused or failed call, with the problem document when the API sent one. */
export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem | undefined;

  constructor(status: number, problem: Problem | undefined, fallback: string) {
    super(problem?.detail || problem?.title || fallback);
    this.name = "ApiError";
    this.status = status;
    this.problem = problem;
  }

  /** field is the request field the API named as wrong, if any. */
  get field(): string | undefined {
    return this.problem?.field;
  }

  get code(): string | undefined {
    return this.problem?.code;
  }
}

/** readCookie returns a cookie's value from a Cookie header string (document.cookie). */
export function readCookie(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return undefined;
}

export type Query = Record<string, string | number | boolean | readonly string[] | undefined | null>;

/** url builds a same-origin API path with its query (arrays repeat the parameter). */
export function url(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) for (const item of v) qs.append(k, item);
    else qs.append(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
}

export interface Transport {
  fetch: typeof fetch;
  cookies: () => string;
}

const browser: Transport = {
  fetch: (input, init) => globalThis.fetch(input, init),
  cookies: () => (typeof document === "undefined" ? "" : document.cookie),
};

/** Client calls the API. */
export class Client {
  constructor(private readonly transport: Transport = browser) {}

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") {
      const token = readCookie(this.transport.cookies(), csrfCookie);
      if (token) headers[csrfHeader] = token;
    }
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    let res: Response;
    try {
      res = await this.transport.fetch(url(path, opts.query), {
        method,
        headers,
        body,
        credentials: "same-origin",
        signal: opts.signal,
      });
    } catch (err) {
      if ((err as Error).name === "AbortError") throw err;
      throw new ApiError(0, undefined, `the gateway did not answer (${(err as Error).message})`);
    }
    if (res.status === 204) return undefined as T;
    const type = res.headers.get("Content-Type") ?? "";
    if (!res.ok) {
      let problem: Problem | undefined;
      if (type.includes("json")) problem = (await res.json().catch(() => undefined)) as Problem | undefined;
      throw new ApiError(res.status, problem, `${method} ${path} answered ${res.status} ${res.statusText}`);
    }
    if (type.includes("json")) return (await res.json()) as T;
    return (await res.text()) as T;
  }

  get<T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> {
    return this.request<T>("GET", path, { query, signal });
  }

  post<T>(path: string, body?: unknown, query?: Query): Promise<T> {
    return this.request<T>("POST", path, { body, query });
  }

  put<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PUT", path, { body });
  }

  patch<T>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PATCH", path, { body });
  }

  delete<T>(path: string, query?: Query): Promise<T> {
    return this.request<T>("DELETE", path, { query });
  }
}
