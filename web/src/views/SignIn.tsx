// Signing in: `phantom ui` prints a link to /sign-in#code=<one-time code>.
// The code travels in the fragment, which the browser never sends (so it
// is in no server log or Referer); the page posts it to the gateway, which
// answers with the HttpOnly session cookie and the CSRF cookie.
import { useEffect, useState } from "react";
import { useNavigate } from "react-router";
import { Client } from "../api/client";

export function codeFromHash(hash: string): string | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  return params.get("code") ?? undefined;
}

export function SignInView({ client = new Client() }: { client?: Client }) {
  const navigate = useNavigate();
  const [error, setError] = useState<string>();
  useEffect(() => {
    const code = codeFromHash(window.location.hash);
    // Forget the code at once: it is single-use, and must not stay in history.
    window.history.replaceState(null, "", window.location.pathname);
    if (!code) {
      setError("This link has no sign-in code.");
      return;
    }
    client
      .post("/v1/session", { code })
      .then(() => navigate("/", { replace: true }))
      .catch((err: Error) => setError(err.message));
  }, [client, navigate]);
  return (
    <div className="signin">
      <h1>Phantom</h1>
      {error ? (
        <>
          <p role="alert">Could not sign in: {error}</p>
          <SignedOut />
        </>
      ) : (
        <p role="status">Signing in…</p>
      )}
    </div>
  );
}

export function SignedOut() {
  return (
    <div className="signin">
      <p>
        Run <code>phantom ui</code> in a terminal on the machine where Phantom runs: it prints (and on a desktop opens) a sign-in link that works once, for a short
        while.
      </p>
    </div>
  );
}
