// One function per API call the dashboard makes, typed with the generated
// contract types (and, for endpoints not in the contract yet, pending.ts).
import { Client } from "./client";
import type {
  Canceled,
  Capability,
  ControlAccepted,
  Conversation,
  ConversationDetail,
  GuardPolicyRecord,
  PolicyAuditPage,
  Profile,
  ProviderState,
  Queue,
  Run,
  RunOverrides,
  RunPage,
  RunSpec,
  RunUsage,
  Runner,
  SaveGuardPolicy,
  Submitted,
} from "./types";
import type {
  CheckpointList,
  ExportFormat,
  LandRequest,
  Landed,
  RunDiff,
  Settings,
  Timeline,
  UsageReport,
  WorkspaceList,
} from "./pending";

const enc = encodeURIComponent;

export interface ListRunsQuery {
  limit?: number;
  cursor?: string;
  status?: string[];
  includeArchived?: boolean;
}

export function endpoints(c: Client = new Client()) {
  return {
    // runs
    listRuns: (q: ListRunsQuery = {}) => c.get<RunPage>("/v1/runs", { ...q }),
    getRun: (id: string) => c.get<Run>(`/v1/runs/${enc(id)}`),
    submitRun: (spec: RunSpec) => c.post<Submitted>("/v1/runs", spec),
    startSession: (spec: RunSpec) => c.post<Submitted>("/v1/sessions", spec),
    cancelRun: (id: string, reason?: string) => c.post<Canceled>(`/v1/runs/${enc(id)}/cancel`, reason ? { reason } : undefined),
    pauseRun: (id: string) => c.post<ControlAccepted>(`/v1/runs/${enc(id)}/pause`),
    resumeRun: (id: string) => c.post<ControlAccepted>(`/v1/runs/${enc(id)}/resume`),
    rerunRun: (id: string, overrides: RunOverrides = {}) => c.post<Submitted>(`/v1/runs/${enc(id)}/rerun`, overrides),
    sendInput: (id: string, text: string, end = false) =>
      c.post<{ id: string; inputId: string }>(`/v1/sessions/${enc(id)}/input`, end ? { text, end } : { text }),
    endSession: (id: string) => c.post<ControlAccepted>(`/v1/sessions/${enc(id)}/end`),
    resumeSession: (id: string, prompt?: string) =>
      c.post<Submitted>(`/v1/sessions/${enc(id)}/resume`, prompt ? { prompt } : {}),
    runUsage: (id: string) => c.get<RunUsage>(`/v1/runs/${enc(id)}/usage`),
    // the agent's work (pending contract)
    runDiff: (id: string, range: { from?: number; to?: number } = {}) =>
      c.get<RunDiff>(`/v1/runs/${enc(id)}/diff`, range),
    checkpoints: (id: string) => c.get<CheckpointList>(`/v1/runs/${enc(id)}/checkpoints`),
    createCheckpoint: (id: string) => c.post<unknown>(`/v1/runs/${enc(id)}/checkpoints`),
    restoreCheckpoint: (id: string, n: number) => c.post<unknown>(`/v1/runs/${enc(id)}/checkpoints/${n}/restore`),
    forkCheckpoint: (id: string, n: number, overrides: RunOverrides = {}) =>
      c.post<Submitted>(`/v1/runs/${enc(id)}/checkpoints/${n}/fork`, overrides),
    timeline: (id: string) => c.get<Timeline>(`/v1/runs/${enc(id)}/timeline`),
    landRun: (id: string, req: LandRequest) => c.post<Landed>(`/v1/runs/${enc(id)}/land`, req),
    archiveRun: (id: string) => c.post<unknown>(`/v1/runs/${enc(id)}/archive`),
    // agents, fleet, queue
    capabilities: () => c.get<{ capabilities: Capability[] }>("/v1/capabilities"),
    refreshCapabilities: () => c.post<{ runners: string[] }>("/v1/capabilities/refresh"),
    queue: (q: { pool?: string; provider?: string; limit?: number } = {}) => c.get<Queue>("/v1/queue", q),
    providers: () => c.get<{ providers: ProviderState[] }>("/v1/providers"),
    runners: () => c.get<{ runners: Runner[] }>("/v1/runners"),
    profiles: () => c.get<{ profiles: Profile[] }>("/v1/profiles"),
    workspaces: () => c.get<WorkspaceList>("/v1/workspaces"),
    // conversations
    conversations: (includeArchived = false) =>
      c.get<{ conversations: Conversation[] }>("/v1/conversations", { includeArchived }),
    conversation: (id: string) => c.get<ConversationDetail>(`/v1/conversations/${enc(id)}`),
    sendMessage: (id: string, text: string) =>
      c.post<{ conversationId: string; id: string; status: string }>(`/v1/conversations/${enc(id)}/messages`, { text }),
    archiveConversation: (id: string) => c.post<{ id: string; archived: boolean }>(`/v1/conversations/${enc(id)}/archive`),
    // guard
    audits: (q: { run?: string; decision?: "allow" | "block"; limit?: number; cursor?: string } = {}) =>
      c.get<PolicyAuditPage>("/v1/policy-audits", q),
    policies: () => c.get<{ policies: GuardPolicyRecord[] }>("/v1/guard/policies"),
    savePolicy: (p: SaveGuardPolicy) => c.put<unknown>("/v1/guard/policies", p),
    deletePolicy: (scope: string, target?: string) => c.delete<void>("/v1/guard/policies", { scope, target }),
    // usage, settings (pending contract)
    usage: (q: { groupBy: string[]; from?: string; to?: string }) =>
      c.get<UsageReport>("/v1/usage", { groupBy: q.groupBy.join(","), from: q.from, to: q.to }),
    settings: () => c.get<Settings>("/v1/settings"),
    updateSettings: (patch: Settings) => c.patch<Settings>("/v1/settings", patch),
  };
}

export type Endpoints = ReturnType<typeof endpoints>;

/** exportUrl is the same-origin link that downloads a run's export (the session cookie authorises it). */
export function exportUrl(id: string, format: ExportFormat): string {
  return `/v1/runs/${enc(id)}/export?format=${format}`;
}

/** runEventsUrl and firehoseUrl are the SSE streams the dashboard follows. */
export function runEventsUrl(id: string): string {
  return `/v1/runs/${enc(id)}/events`;
}

export const firehoseUrl = "/v1/events";
