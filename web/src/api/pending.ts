// Shapes of the endpoints that the issues "The agent's work" (diff,
// checkpoints, land, archive, names) and "The rest of the specification"
// (firehose, usage analytics, settings, export, workspace grants) describe
// and that contracts/openapi.yaml does not have yet. They are written from
// those issues; when the endpoints land in the contract, the generated types
// replace these (delete the type here and alias the generated one in
// types.ts: the compiler then shows every place that disagrees).

/** GET /v1/runs/{id}/diff (against the base commit, or ?from=&to= checkpoints). */
export interface RunDiff {
  runId: string;
  /** The commit the diff starts from (the base, or checkpoint `from`). */
  base: string;
  from?: number | null;
  to?: number | null;
  files: DiffFile[];
  /** The unified diff (git's format), possibly cut at the size bound. */
  patch: string;
  /** true when the patch was cut; `files` still lists every file. */
  truncated: boolean;
}

export interface DiffFile {
  path: string;
  oldPath?: string | null;
  status: "added" | "modified" | "deleted" | "renamed" | string;
  additions: number;
  deletions: number;
  binary: boolean;
}

/** GET /v1/runs/{id}/checkpoints. */
export interface Checkpoint {
  /** The checkpoint's number in the run, from 1. */
  n: number;
  commit: string;
  parent?: string | null;
  time: string;
  /** What it follows: start, tool (a tool call), turn, manual, end, restore. */
  trigger: string;
  toolUseId?: string | null;
  turn?: number | null;
  files: { path: string; additions: number; deletions: number }[];
  additions: number;
  deletions: number;
}

export interface CheckpointList {
  checkpoints: Checkpoint[];
}

/** GET /v1/runs/{id}/timeline: a run and its forks. */
export interface Timeline {
  runs: {
    runId: string;
    name?: string | null;
    status?: string | null;
    forkOf?: { runId: string; checkpoint: number } | null;
    checkpoints: number;
  }[];
}

/** POST /v1/runs/{id}/land. */
export interface LandRequest {
  strategy: "squash" | "merge" | "rebase";
  into?: string;
  message?: string;
  push?: boolean;
  pr?: boolean;
}

export interface Landed {
  runId: string;
  commit: string;
  target: string;
  pushedRef?: string | null;
  prUrl?: string | null;
}

/** GET /v1/usage?groupBy=day,model,agent,workspace,profile&from=&to=. */
export interface UsageReport {
  groupBy: string[];
  from?: string | null;
  to?: string | null;
  rows: UsageRow[];
  total?: UsageFigures;
}

export interface UsageFigures {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheCreationTokens?: number;
  reasoningTokens?: number;
  costUsd: number | null;
  costEstimated?: boolean;
  runs?: number;
}

export interface UsageRow extends UsageFigures {
  day?: string;
  model?: string;
  agent?: string;
  workspace?: string;
  profile?: string;
}

/** GET /v1/settings: a JSON object of sections; PATCH takes a merge patch of it. */
export type Settings = Record<string, unknown>;

/** GET /v1/workspaces: the granted workspaces. */
export interface WorkspaceGrant {
  id?: string;
  path: string;
}

export interface WorkspaceList {
  workspaces: WorkspaceGrant[];
}

/** Export formats of GET /v1/runs/{id}/export. */
export const exportFormats = ["json", "jsonl", "md"] as const;
export type ExportFormat = (typeof exportFormats)[number];

/**
 * Fields the issues add to a run in GET /v1/runs and GET /v1/runs/{id}: a
 * readable name, and the run's usage so far (so the board shows cost and
 * tokens without one request per run).
 */
export interface RunExtras {
  name?: string | null;
  usage?: { inputTokens: number; outputTokens: number; costUsd: number | null } | null;
}
