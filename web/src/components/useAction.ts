import { useCallback, useState } from "react";

/** useAction runs one API call at a time for a button, keeping its error and result for the page to show. */
export function useAction<T>() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [result, setResult] = useState<T>();
  const run = useCallback(async (fn: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await fn();
      setResult(r);
      return r;
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, result, run, clear: () => setError(undefined) };
}
