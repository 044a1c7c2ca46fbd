// A run's transcript as a virtualised conversation: only the entries on
// screen are in the page, so 10,000 events render without freezing. While
// the reader is at the bottom it follows new entries; scrolled up, it stays
// where it is (entries only ever append, so nothing above moves).
import { useVirtualizer } from "@tanstack/react-virtual";
import { useEffect, useMemo, useRef, useState } from "react";
import type { Item, Transcript } from "./model";
import { ItemView } from "./ItemView";

function estimate(item: Item | undefined): number {
  switch (item?.kind) {
    case "event":
      return 28;
    case "tool":
      return 88;
    case "assistant":
    case "prompt":
    case "user":
      return Math.min(400, 56 + Math.ceil(item.text.length / 90) * 20);
    default:
      return 48;
  }
}

export function TranscriptView({ transcript, agent }: { transcript: Transcript; agent: string }) {
  const items = useMemo(() => transcript.items.filter((i) => !(i.kind === "guard" && i.attachedTo)), [transcript.items]);
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const v = useVirtualizer({
    count: items.length,
    getScrollElement: () => scroller.current,
    estimateSize: (i) => estimate(items[i]),
    getItemKey: (i) => items[i]?.key ?? i,
    overscan: 6,
  });

  // Following stops only when the reader scrolls away: rows measured taller
  // than estimated also move the scroll position, and must not end it.
  const userAt = useRef(0);
  const markUser = () => {
    userAt.current = performance.now();
  };
  const total = v.getTotalSize();
  useEffect(() => {
    if (follow && items.length > 0) v.scrollToIndex(items.length - 1, { align: "end" });
  }, [items.length, total, follow, v]);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 48;
    if (atBottom && !follow) setFollow(true);
    else if (!atBottom && follow && performance.now() - userAt.current < 1000) setFollow(false);
  };

  if (items.length === 0) {
    return <div className="empty">No agent output yet.</div>;
  }
  return (
    <div className="transcript-wrap">
      <div
        ref={scroller}
        className="transcript"
        onScroll={onScroll}
        onWheel={markUser}
        onTouchMove={markUser}
        onPointerDown={markUser}
        onKeyDown={markUser}
        role="log"
        aria-label="Transcript"
        tabIndex={0}
      >
        <div style={{ height: total, position: "relative", width: "100%" }}>
          {v.getVirtualItems().map((vi) => {
            const item = items[vi.index];
            return (
              <div
                key={vi.key}
                data-index={vi.index}
                ref={v.measureElement}
                className="transcript-row"
                style={{ position: "absolute", top: 0, left: 0, width: "100%", transform: `translateY(${vi.start}px)` }}
              >
                {item ? <ItemView item={item} agent={agent} /> : null}
              </div>
            );
          })}
        </div>
      </div>
      {!follow ? (
        <button type="button" className="jump" onClick={() => setFollow(true)}>
          Jump to latest ↓
        </button>
      ) : null}
    </div>
  );
}
