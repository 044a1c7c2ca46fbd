// The agent's own output, as it printed it (redacted), one click from the
// transcript: standard output and standard error, virtualised by line.
import { useVirtualizer } from "@tanstack/react-virtual";
import { useMemo, useRef } from "react";

function lines(chunks: readonly string[]): string[] {
  const text = chunks.join("");
  const out = text.split("\n");
  if (out[out.length - 1] === "") out.pop();
  return out;
}

function Lines({ chunks, label }: { chunks: readonly string[]; label: string }) {
  const all = useMemo(() => lines(chunks), [chunks]);
  const scroller = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({ count: all.length, getScrollElement: () => scroller.current, estimateSize: () => 18, overscan: 20 });
  return (
    <section className="raw-section">
      <h3>
        {label} <span className="muted">({all.length} lines)</span>
      </h3>
      <div ref={scroller} className="raw" tabIndex={0} aria-label={label}>
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((vi) => (
            <div key={vi.key} className="raw-line" style={{ position: "absolute", top: 0, transform: `translateY(${vi.start}px)` }}>
              {all[vi.index]}
            </div>
          ))}
        </div>
      </div>
    </section>
  );
}

export function RawOutput({ stdout, stderr }: { stdout: readonly string[]; stderr: readonly string[] }) {
  if (stdout.length === 0 && stderr.length === 0) return <div className="empty">No output yet.</div>;
  return (
    <div className="raw-wrap">
      {stdout.length > 0 ? <Lines chunks={stdout} label="Standard output" /> : null}
      {stderr.length > 0 ? <Lines chunks={stderr} label="Standard error" /> : null}
    </div>
  );
}
