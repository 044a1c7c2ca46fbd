// frameBatcher gathers items pushed between two frames and hands them over
// once per frame, so that a burst of events (a replay of 10,000, or twenty
// runs streaming) costs one state update and one render per frame.
export interface Batcher<T> {
  push(items: T[]): void;
  flush(): void;
  cancel(): void;
}

export type Schedule = (fn: () => void) => () => void;

export const nextFrame: Schedule = (fn) => {
  if (typeof requestAnimationFrame === "function" && typeof document !== "undefined" && !document.hidden) {
    const id = requestAnimationFrame(fn);
    return () => cancelAnimationFrame(id);
  }
  // A hidden tab gets no frames: keep up on a timer so the title and notifications stay current.
  const id = setTimeout(fn, 100);
  return () => clearTimeout(id);
};

export function frameBatcher<T>(deliver: (items: T[]) => void, schedule: Schedule = nextFrame): Batcher<T> {
  let pending: T[] = [];
  let cancelScheduled: (() => void) | undefined;
  const flush = () => {
    cancelScheduled?.();
    cancelScheduled = undefined;
    if (pending.length === 0) return;
    const items = pending;
    pending = [];
    deliver(items);
  };
  return {
    push(items) {
      if (items.length === 0) return;
      pending.push(...items);
      cancelScheduled ??= schedule(flush);
    },
    flush,
    cancel() {
      cancelScheduled?.();
      cancelScheduled = undefined;
      pending = [];
    },
  };
}
