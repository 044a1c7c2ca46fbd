// Package runs holds the vocabulary of a run shared by every service: what a
// user asks for (Spec), the states a run goes through and the reason codes a
// run fails or is rejected with. The codes are stable: clients match on them.
package runs

import "encoding/json"

// Spec is what a user asks for when submitting a run. Optional fields are
// pointers so that a profile can fill what the request leaves out (a missing
// field inherits, an explicit value wins, including an explicit zero).
type Spec struct {
	// Agent names the launch template (claude, codex, gemini, fake, or one from agents.toml).
	Agent string `json:"agent"`
	// Prompt is handed to the agent as its task.
	Prompt string `json:"prompt"`
	// Workspace is the absolute path of the directory the agent works in.
	Workspace string `json:"workspace"`
	// Pool is the runner pool the run is released to; "" means "default".
	Pool string `json:"pool,omitempty"`
	// Provider is the concurrency key (claude, codex, gemini, ...); "" means the agent's own.
	Provider string `json:"provider,omitempty"`
	// Model overrides the agent's default model.
	Model string `json:"model,omitempty"`
	// Profile names a saved profile that fills the fields left out.
	Profile string `json:"profile,omitempty"`
	// Priority in -10..=10, higher first; nil means 0.
	Priority *int `json:"priority,omitempty"`
	// TimeoutSeconds in 5..=10800; nil means the default.
	TimeoutSeconds *int `json:"timeoutSeconds,omitempty"`
	// Isolation is "worktree" (a git worktree per run), "none" (run in the
	// workspace itself) or "" (a worktree when the workspace is a git repository).
	Isolation string `json:"isolation,omitempty"`
	// Labels are free-form key/values kept with the run.
	Labels map[string]string `json:"labels,omitempty"`

	// MaxRetries is how many further attempts a retryable failure may get (0..=10).
	MaxRetries *int `json:"maxRetries,omitempty"`
	// RetryBackoffMs is the first retry's backoff in 100..=600000 ms; later
	// ones grow exponentially with jitter, within the same range.
	RetryBackoffMs *int `json:"retryBackoffMs,omitempty"`
	// RetryOnTimeout makes a timeout retryable.
	RetryOnTimeout *bool `json:"retryOnTimeout,omitempty"`
	// Interactive keeps the agent reading stdin: a session takes input until ended.
	Interactive *bool `json:"interactive,omitempty"`
	// Budget stops the run when its live usage passes a limit.
	Budget *Budget `json:"budget,omitempty"`
	// Harness hardens and steers the agent CLI.
	Harness *Harness `json:"harness,omitempty"`
}

// Budget limits a run's spend; the run fails with budget_exceeded past it.
type Budget struct {
	MaxCostUSD *float64 `json:"maxCostUsd,omitempty"`
	MaxTokens  *int64   `json:"maxTokens,omitempty"`
}

// Harness is the "Harness Hardening" block of a run: how the agent CLI is
// constrained and steered. An option the chosen CLI or its version cannot
// honour is dropped with run.compatibility_warning, never silently.
type Harness struct {
	// AllowedTools and DisallowedTools name the agent's tools (Claude: Bash, Edit, mcp__srv__tool, ...).
	AllowedTools    []string `json:"allowedTools,omitempty"`
	DisallowedTools []string `json:"disallowedTools,omitempty"`
	// PermissionMode is the CLI's permission mode (Claude: default, acceptEdits, plan, bypassPermissions, ...).
	PermissionMode string `json:"permissionMode,omitempty"`
	// AutoApprove lets the agent act without asking; refused together with a full-access sandbox.
	AutoApprove *bool `json:"autoApprove,omitempty"`
	// Sandbox is read-only, workspace-write or full-access.
	Sandbox string `json:"sandbox,omitempty"`
	// MaxTurns bounds the agent's turns.
	MaxTurns *int `json:"maxTurns,omitempty"`
	// TimeoutMs bounds the agent CLI's own work, in 5000..=10800000 ms.
	TimeoutMs *int `json:"timeoutMs,omitempty"`
	// MaxToolResultLines truncates tool results the agent sees (<= 20000).
	MaxToolResultLines *int `json:"maxToolResultLines,omitempty"`
	// MCPConfig is an MCP servers document, written to a private file for --mcp-config.
	MCPConfig json.RawMessage `json:"mcpConfig,omitempty"`
	// OutputSchema is a JSON Schema the final result must satisfy.
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	// ShellPrelude runs before the agent (checked by the safety guard).
	ShellPrelude string `json:"shellPrelude,omitempty"`
	// CLIAllowlist names the executables the agent's shell may run.
	CLIAllowlist []string `json:"cliAllowlist,omitempty"`
	// Env is injected into the agent's environment (never secrets: provider tokens come from the runner).
	Env map[string]string `json:"env,omitempty"`
	// AppendSystemPrompt is added to the agent's system prompt.
	AppendSystemPrompt string `json:"appendSystemPrompt,omitempty"`
	// ResumeSessionID resumes a provider session (Claude --resume, codex exec resume).
	ResumeSessionID string `json:"resumeSessionId,omitempty"`
	// Continue resumes the latest session in the working directory.
	Continue bool `json:"continue,omitempty"`
	// ForkSession resumes into a new session id.
	ForkSession bool `json:"forkSession,omitempty"`
}

// Sandbox levels.
const (
	SandboxReadOnly       = "read-only"
	SandboxWorkspaceWrite = "workspace-write"
	SandboxFullAccess     = "full-access"
)

// Guardrails from the specification. Every service that validates a run uses
// these bounds, so the gateway (400) and the scheduler agree.
const (
	MinPriority           = -10
	MaxPriority           = 10
	MinTimeoutSeconds     = 5
	MaxTimeoutSeconds     = 10800
	MaxRetriesLimit       = 10
	MinRetryBackoffMs     = 100
	MaxRetryBackoffMs     = 600000
	MinHarnessTimeoutMs   = 5000
	MaxHarnessTimeoutMs   = 10800000
	MaxToolResultLinesCap = 20000
)

// Isolation modes.
const (
	IsolationAuto     = ""
	IsolationWorktree = "worktree"
	IsolationNone     = "none"
)

// DefaultPool is the pool a run goes to when its spec names none.
const DefaultPool = "default"

// PoolOrDefault returns the spec's pool, or DefaultPool.
func (s Spec) PoolOrDefault() string {
	if s.Pool == "" {
		return DefaultPool
	}
	return s.Pool
}

// ProviderOrAgent returns the spec's provider, or its agent name.
func (s Spec) ProviderOrAgent() string {
	if s.Provider == "" {
		return s.Agent
	}
	return s.Provider
}

// PriorityOrZero returns the spec's priority, or 0.
func (s Spec) PriorityOrZero() int {
	if s.Priority == nil {
		return 0
	}
	return *s.Priority
}

// Status is where a run is in its life.
type Status string

// Run states. A run ends in exactly one of the terminal states.
//
// Departure from ARCHITECTURE.md: its state diagram has a terminal
// timed_out; the scheduler issue specifies that a run past its timeout ends
// failed with reason timeout (so that "failed" alone answers "did it
// work?", and retry rules read the reason like any other failure). Phantom
// follows the issue: there is no timed_out state, and ReasonTimeout says why.
const (
	StatusRequested      Status = "requested"
	StatusQueued         Status = "queued"
	StatusRejected       Status = "rejected"
	StatusDispatched     Status = "dispatched"
	StatusPreparing      Status = "preparing"
	StatusRunning        Status = "running"
	StatusPaused         Status = "paused"
	StatusAwaitingInput  Status = "awaiting_input"
	StatusRetryScheduled Status = "retry_scheduled"
	StatusCompleted      Status = "completed"
	StatusFailed         Status = "failed"
	StatusCanceled       Status = "canceled"
)

// Terminal reports whether a run in this state will not change again.
func (s Status) Terminal() bool {
	switch s {
	case StatusCompleted, StatusFailed, StatusCanceled, StatusRejected:
		return true
	}
	return false
}

// Reason codes of run.failed, run.rejected and run.canceled.
const (
	ReasonQueueFull           = "queue_full"
	ReasonInvalidRequest      = "invalid_request"
	ReasonPolicyDenied        = "policy_denied"
	ReasonWorkspaceNotGranted = "workspace_not_granted"
	ReasonSpawnFailed         = "spawn_failed"
	ReasonCLIMissing          = "cli_missing"
	// ReasonCLIBlocked: the installed CLI's version is one Phantom refuses to drive (agents.toml).
	ReasonCLIBlocked     = "cli_blocked"
	ReasonCWDMissing     = "cwd_missing"
	ReasonWorktreeFailed = "worktree_failed"
	ReasonAgentError     = "agent_error"
	ReasonAPIError       = "api_error"
	ReasonRateLimited    = "rate_limited"
	ReasonUsageLimit     = "usage_limit"
	ReasonMaxTurns       = "max_turns"
	ReasonTimeout        = "timeout"
	ReasonKilled         = "killed"
	ReasonRunnerLost     = "runner_lost"
	ReasonBudgetExceeded = "budget_exceeded"
	ReasonCanceled       = "canceled"
	ReasonInternal       = "internal"
)

// RetryableReason reports whether a failure of this kind may succeed on
// another attempt (given retries left). Cancels and policy denials never are.
func RetryableReason(reason string) bool {
	switch reason {
	case ReasonSpawnFailed, ReasonRunnerLost, ReasonAPIError, ReasonRateLimited:
		return true
	}
	return false
}
