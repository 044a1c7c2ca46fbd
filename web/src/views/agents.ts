// What the new-run form shows of each agent: the best support any runner
// has for it, and whether the safety guard is enforced on its tool calls.
import type { Capability } from "../api/types";

const supportRank = { supported: 0, degraded: 1, blocked: 2, missing: 3 } as const;

export interface AgentChoice {
  agent: string;
  support: Capability["support"];
  version: string | null;
  reason: string | null;
  models: string[];
  options: string[];
  runners: number;
  /** guard says how the safety guard sees the agent's commands. */
  guard: "hook" | "prelude-only";
}

/**
 * Runners inject the guard's PreToolUse hook into Claude Code runs (and the
 * fake agent, which stands for it); other CLIs have no hook, so only the
 * shell prelude and Phantom's own git commands are judged. A capability that
 * says so itself (a `guard` field, when the contract adds one) wins.
 */
function guardOf(c: Capability): AgentChoice["guard"] {
  const said = (c as Capability & { guard?: string }).guard;
  if (said === "hook" || said === "prelude-only") return said;
  return c.agent === "claude" || c.agent === "fake" ? "hook" : "prelude-only";
}

export function agentChoices(caps: readonly Capability[]): AgentChoice[] {
  const by = new Map<string, AgentChoice>();
  for (const c of caps) {
    const have = by.get(c.agent);
    if (!have || supportRank[c.support] < supportRank[have.support]) {
      by.set(c.agent, {
        agent: c.agent,
        support: c.support,
        version: c.version,
        reason: c.reason,
        models: c.models,
        options: c.options,
        runners: (have?.runners ?? 0) + 1,
        guard: guardOf(c),
      });
    } else {
      have.runners++;
    }
  }
  return [...by.values()].sort((a, b) => supportRank[a.support] - supportRank[b.support] || a.agent.localeCompare(b.agent));
}
