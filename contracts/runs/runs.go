// Package runs holds the vocabulary of a run shared by every service: what a
// user asks for (Spec), the states a run goes through and the reason codes a
// run fails or is rejected with. The codes are stable: clients match on them.
package runs

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
}

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
	ReasonCWDMissing          = "cwd_missing"
	ReasonWorktreeFailed      = "worktree_failed"
	ReasonAgentError          = "agent_error"
	ReasonAPIError            = "api_error"
	ReasonRateLimited         = "rate_limited"
	ReasonUsageLimit          = "usage_limit"
	ReasonMaxTurns            = "max_turns"
	ReasonTimeout             = "timeout"
	ReasonKilled              = "killed"
	ReasonRunnerLost          = "runner_lost"
	ReasonBudgetExceeded      = "budget_exceeded"
	ReasonCanceled            = "canceled"
	ReasonInternal            = "internal"
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
