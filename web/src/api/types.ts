// The API's types as the dashboard uses them: generated from the contracts
// (openapi.gen.ts, events.gen.ts) and named here once.
import type { components, paths } from "./openapi.gen";
import type { EventPayloads, EventType } from "./events.gen";

type S = components["schemas"];

export type { paths, EventPayloads, EventType };
export type Run = S["Run"];
export type RunStatus = S["RunStatus"];
export type RunSpec = S["RunSpec"];
export type RunOverrides = S["RunOverrides"];
export type RunPage = S["RunPage"];
export type Harness = S["Harness"];
export type Submitted = S["Submitted"];
export type Problem = S["Problem"];
export type PolicyAudit = S["PolicyAudit"];
export type PolicyAuditPage = S["PolicyAuditPage"];
export type GuardPolicyRecord = S["GuardPolicyRecord"];
export type GuardPolicy = S["GuardPolicy"];
export type SaveGuardPolicy = S["SaveGuardPolicy"];
export type Capability = S["Capability"];
export type RunUsage = S["RunUsage"];
export type Conversation = S["Conversation"];
export type ConversationDetail = S["ConversationDetail"];
export type Queue = S["Queue"];
export type QueueJob = S["QueueJob"];
export type ProviderState = S["ProviderState"];
export type Runner = S["Runner"];
export type Profile = S["Profile"];
export type Canceled = S["Canceled"];
export type ControlAccepted = S["ControlAccepted"];

/** One event as the SSE streams send it (`data` of a `run_event` message). */
export type RunEvent = S["RunEvent"];

/** An event whose payload is typed by its type. */
export type TypedEvent<T extends EventType> = Omit<RunEvent, "type" | "data"> & { type: T; data: EventPayloads[T] };

/** is narrows an event to one type, so that its payload is typed. */
export function is<T extends EventType>(ev: RunEvent, type: T): ev is TypedEvent<T> {
  return ev.type === type;
}

export const terminalStatuses: readonly RunStatus[] = ["completed", "failed", "canceled", "rejected"];

export function isTerminal(s: RunStatus): boolean {
  return terminalStatuses.includes(s);
}
