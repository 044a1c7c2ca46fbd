// Package rpc defines the request/reply bodies of the subjects answered in
// milliseconds (phantom.rpc.*). They are not persisted; the outcome of each is
// recorded as an event by whoever acts on it.
package rpc

import (
	"time"

	"github.com/phantom-run/phantom/contracts/subjects"
)

// GuardCheckRequest asks the safety-guard to judge one shell command.
type GuardCheckRequest struct {
	RunID   string `json:"runId,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	Command string `json:"command"`
	Cwd     string `json:"cwd,omitempty"`
	// Mode overrides the policy's mode (default, strict, paranoid, worktree, combinations with "+").
	Mode string `json:"mode,omitempty"`
	// Workspace and Profile choose the policy.
	Workspace string `json:"workspace,omitempty"`
	Profile   string `json:"profile,omitempty"`
	// Origin says who asks: hook, runner, worktree, cli.
	Origin string `json:"origin,omitempty"`
	// Env carries HOME and TMPDIR as the command would see them.
	Env map[string]string `json:"env,omitempty"`
	// Shell is the command's language: "bash" (default), "powershell" or
	// "auto" (judged as both).
	Shell string `json:"shell,omitempty"`
	// Agent names the agent CLI whose hook asks (claude-code, codex,
	// gemini-cli, copilot-cli), for the audit.
	Agent string `json:"agent,omitempty"`
	// RuleFiles are the custom rule files the requester found where the
	// command runs (the user's, then the project's .safety-net.json), read
	// there because the guard may run on another machine. They add to the
	// configured policy, later files overriding earlier ones by rule name.
	RuleFiles []GuardRuleFile `json:"ruleFiles,omitempty"`
}

// Origins of a guard check (GuardCheckRequest.Origin).
const (
	// GuardOriginHook: an agent's pre-tool hook (phantom guard hook).
	GuardOriginHook = "hook"
	// GuardOriginRunner: the runner, about the run's shell prelude.
	GuardOriginRunner = "runner"
	// GuardOriginWorktree: the worktree service, about its own git commands.
	GuardOriginWorktree = "worktree"
	// GuardOriginCLI: a person, through the phantom command.
	GuardOriginCLI = "cli"
)

// GuardRuleFile is one custom rule file in upstream's .safety-net.json
// format, as read by the requester.
type GuardRuleFile struct {
	// Path is where the file is, for messages and to protect it from the agent.
	Path string `json:"path"`
	// Content is the file's text.
	Content string `json:"content"`
}

// GuardCheckReply is the decision.
type GuardCheckReply struct {
	// Decision is "allow" or "block".
	Decision string `json:"decision"`
	Rule     string `json:"rule,omitempty"`
	Segment  string `json:"segment,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Error is set when the request could not be judged (the caller decides
	// what failing closed means for it).
	Error string `json:"error,omitempty"`
	// Mode is the policy mode the command was judged in.
	Mode string `json:"mode,omitempty"`
	// Policies names the policies that applied, in order (global,
	// workspace:<path>, profile:<name>, rules:<file>).
	Policies []string `json:"policies,omitempty"`
}

// Worktree verbs.
const (
	WorktreePrepare = "prepare"
	WorktreeRemove  = "remove"
)

// WorktreePrepareSubject is where a run's worktree is requested from host.
func WorktreePrepareSubject(host string) string {
	return subjects.WorktreeRPC(host, WorktreePrepare)
}

// WorktreeRemoveSubject is where a run's worktree is removed on host.
func WorktreeRemoveSubject(host string) string {
	return subjects.WorktreeRPC(host, WorktreeRemove)
}

// WorktreePrepareRequest asks for a working directory for one run attempt.
type WorktreePrepareRequest struct {
	RunID     string `json:"runId"`
	Attempt   int    `json:"attempt"`
	Workspace string `json:"workspace"`
	// Isolation is runs.Isolation*.
	Isolation string `json:"isolation,omitempty"`
	// BaseRef is what the branch starts from; "" means the workspace's HEAD.
	BaseRef string `json:"baseRef,omitempty"`
}

// WorktreePrepareReply says where the agent works.
type WorktreePrepareReply struct {
	// Dir is the directory to run the agent in.
	Dir string `json:"dir"`
	// Isolated is true when Dir is a worktree of its own.
	Isolated bool   `json:"isolated"`
	Repo     string `json:"repo,omitempty"`
	Branch   string `json:"branch,omitempty"`
	BaseRef  string `json:"baseRef,omitempty"`
	Reused   bool   `json:"reused,omitempty"`
	// Code and Error are set on failure; Code is one of the WorktreeCode*
	// constants, which the runner acts on.
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// The codes of a failed WorktreePrepareReply.
const (
	// WorktreeCodeCWDMissing: the workspace does not exist on the host (or
	// is not a directory).
	WorktreeCodeCWDMissing = "cwd_missing"
	// WorktreeCodeNotGranted: the workspace is outside every granted root.
	WorktreeCodeNotGranted = "not_granted"
	// WorktreeCodeFailed: anything else (a bad request, git failed).
	WorktreeCodeFailed = "worktree_failed"
)

// WorktreeRemoveRequest removes a run's worktree (the branch stays).
type WorktreeRemoveRequest struct {
	RunID string `json:"runId"`
	Force bool   `json:"force,omitempty"`
}

// WorktreeRemoveReply reports the removal.
type WorktreeRemoveReply struct {
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
}

// SchedulerQueueRequest asks the active scheduler for its queue
// (subjects.SchedulerQueue). Empty filters match everything.
type SchedulerQueueRequest struct {
	Pool     string `json:"pool,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Limit bounds the jobs returned (the first Limit in dispatch order); 0 means all.
	Limit int `json:"limit,omitempty"`
}

// Why a pending run waits (QueueJob.Waiting).
const (
	// WaitNext: nothing holds it back; it goes with the next decision.
	WaitNext = "next"
	// WaitGlobalLimit: every slot overall is taken.
	WaitGlobalLimit = "global_limit"
	// WaitProviderLimit: its provider's slots are taken.
	WaitProviderLimit = "provider_limit"
	// WaitProfileLimit: its profile's maxConcurrent is reached.
	WaitProfileLimit = "profile_limit"
	// WaitWorkspaceLimit: its workspace's limit is reached.
	WaitWorkspaceLimit = "workspace_limit"
	// WaitProviderHold: its provider is on hold until HoldUntil (a quota ran out).
	WaitProviderHold = "provider_hold"
	// WaitBackoff: a retry waits for its backoff until NotBefore.
	WaitBackoff = "backoff"
	// WaitDecision: requested, not yet queued or rejected.
	WaitDecision = "decision"
)

// QueueJob is one pending run as the scheduler sees it.
type QueueJob struct {
	RunID string `json:"runId"`
	// Position is 1-based in dispatch order (runs in backoff come last).
	Position int    `json:"position"`
	Attempt  int    `json:"attempt"`
	Agent    string `json:"agent"`
	Provider string `json:"provider"`
	Pool     string `json:"pool"`
	Profile  string `json:"profile,omitempty"`
	// Workspace is the run's workspace (a concurrency key when it has a limit).
	Workspace string `json:"workspace"`
	Priority  int    `json:"priority"`
	// EffectivePriority is Priority raised by aging: +20 levels per aging horizon waited.
	EffectivePriority float64 `json:"effectivePriority"`
	// QueuedAt is when the run first entered the queue; waits count from it.
	QueuedAt time.Time `json:"queuedAt"`
	WaitMs   int64     `json:"waitMs"`
	// Waiting is why it waits (Wait*).
	Waiting string `json:"waiting"`
	// NotBefore is when a retry's backoff ends.
	NotBefore *time.Time `json:"notBefore,omitempty"`
	// HoldUntil is when its provider's hold ends.
	HoldUntil *time.Time `json:"holdUntil,omitempty"`
}

// SchedulerLimits are the limits in force.
type SchedulerLimits struct {
	MaxRunning     int `json:"maxRunning"`
	MaxPerProvider int `json:"maxPerProvider"`
	Capacity       int `json:"capacity"`
	// Providers, Workspaces and Profiles are limits that differ from the defaults.
	Providers  map[string]int `json:"providers,omitempty"`
	Workspaces map[string]int `json:"workspaces,omitempty"`
	Profiles   map[string]int `json:"profiles,omitempty"`
	// AgingHorizonMs is how long a run waits to gain 20 priority levels (-10 to 10).
	AgingHorizonMs int64 `json:"agingHorizonMs"`
}

// SchedulerQueueReply is the queue as it stands.
type SchedulerQueueReply struct {
	// Instance is the answering scheduler's instance id.
	Instance string          `json:"instance"`
	AsOf     time.Time       `json:"asOf"`
	Limits   SchedulerLimits `json:"limits"`
	// Pending counts every pending run (Jobs may be cut by the request's Limit).
	Pending int `json:"pending"`
	// Running counts the runs dispatched or running.
	Running int        `json:"running"`
	Jobs    []QueueJob `json:"jobs"`
	// Error is set when the request could not be answered.
	Error string `json:"error,omitempty"`
}
