// A run's changes against its base (or between two checkpoints): a file
// tree with each file's +/- and the unified or split diff of each file,
// from react-diff-view.
import { useMemo, useState } from "react";
import { Diff, Hunk, parseDiff, type FileData } from "react-diff-view";
import "react-diff-view/style/index.css";
import type { DiffFile, RunDiff } from "../api/pending";
import { fileTree, type TreeNode } from "./fileTree";

const expandedByDefault = 40;

function anchor(path: string): string {
  return `diff-${path.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

function pathOfParsed(f: FileData): string {
  return f.type === "delete" ? f.oldPath : f.newPath;
}

function Tree({ nodes, selected, onSelect }: { nodes: TreeNode<DiffFile>[]; selected?: string; onSelect: (p: string) => void }) {
  return (
    <ul className="tree">
      {nodes.map((n) =>
        n.kind === "dir" ? (
          <li key={n.path}>
            <details open>
              <summary>{n.name}/</summary>
              <Tree nodes={n.children} selected={selected} onSelect={onSelect} />
            </details>
          </li>
        ) : (
          <li key={n.path}>
            <button
              type="button"
              className={`tree-file status-${n.file.status} ${selected === n.path ? "selected" : ""}`}
              onClick={() => onSelect(n.path)}
              title={n.path}
            >
              <span className="tree-name">{n.name}</span>
              <span className="plus">+{n.file.additions}</span> <span className="minus">−{n.file.deletions}</span>
            </button>
          </li>
        ),
      )}
    </ul>
  );
}

function FileDiff({ file, parsed, viewType, open }: { file: DiffFile; parsed?: FileData; viewType: "split" | "unified"; open: boolean }) {
  return (
    <details className="file-diff" id={anchor(file.path)} open={open}>
      <summary>
        <span className="file-path">
          {file.oldPath && file.oldPath !== file.path ? `${file.oldPath} → ` : ""}
          {file.path}
        </span>
        <span className={`badge badge-${file.status === "deleted" ? "bad" : file.status === "added" ? "good" : "muted"}`}>{file.status}</span>
        <span className="plus">+{file.additions}</span> <span className="minus">−{file.deletions}</span>
      </summary>
      {file.binary ? (
        <div className="empty">Binary file</div>
      ) : parsed && parsed.hunks.length > 0 ? (
        <Diff viewType={viewType} diffType={parsed.type} hunks={parsed.hunks}>
          {(hunks) => hunks.map((h) => <Hunk key={h.content} hunk={h} />)}
        </Diff>
      ) : (
        <div className="empty">No text changes shown{parsed ? "" : " (beyond the diff's size bound)"}.</div>
      )}
    </details>
  );
}

export function DiffView({ diff, wide = true }: { diff: RunDiff; wide?: boolean }) {
  const parsed = useMemo(() => {
    const byPath = new Map<string, FileData>();
    for (const f of parseDiff(diff.patch)) byPath.set(pathOfParsed(f), f);
    return byPath;
  }, [diff.patch]);
  const tree = useMemo(() => fileTree(diff.files, (f) => f.path), [diff.files]);
  const [viewType, setViewType] = useState<"split" | "unified">(wide ? "split" : "unified");
  const [selected, setSelected] = useState<string>();
  const adds = diff.files.reduce((n, f) => n + f.additions, 0);
  const dels = diff.files.reduce((n, f) => n + f.deletions, 0);
  const select = (path: string) => {
    setSelected(path);
    const el = document.getElementById(anchor(path));
    if (el instanceof HTMLDetailsElement) el.open = true;
    el?.scrollIntoView({ block: "start" });
    el?.querySelector("summary")?.focus();
  };
  if (diff.files.length === 0) return <div className="empty">No changes.</div>;
  return (
    <div className="diff">
      <div className="diff-bar">
        <span>
          {diff.files.length} file{diff.files.length === 1 ? "" : "s"} changed, <span className="plus">+{adds}</span>{" "}
          <span className="minus">−{dels}</span>
          {diff.from || diff.to ? ` · checkpoints ${diff.from ?? "base"} → ${diff.to ?? "now"}` : ` · against ${diff.base.slice(0, 10)}`}
        </span>
        <span className="seg" role="group" aria-label="Diff layout">
          <button type="button" aria-pressed={viewType === "unified"} onClick={() => setViewType("unified")}>
            Unified
          </button>
          <button type="button" aria-pressed={viewType === "split"} onClick={() => setViewType("split")}>
            Split
          </button>
        </span>
      </div>
      {diff.truncated ? (
        <div className="note note-warn" role="status">
          The diff is larger than the gateway sends at once: it is cut, and the files below the cut show no lines. Every changed file is listed.
        </div>
      ) : null}
      <div className="diff-body">
        <nav className="diff-tree" aria-label="Changed files">
          <Tree nodes={tree} selected={selected} onSelect={select} />
        </nav>
        <div className="diff-files">
          {diff.files.map((f, i) => (
            <FileDiff key={f.path} file={f} parsed={parsed.get(f.path)} viewType={viewType} open={i < expandedByDefault} />
          ))}
        </div>
      </div>
    </div>
  );
}
