package events

import (
	"encoding/json"
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
)

// Attempt numbers start at 1. Every event an attempt produces carries its
// number, so that consumers ignore late events of an abandoned attempt
// (fencing).

// RunRequested records a submitted run with its full request.
type RunRequested struct {
	RunID string    `json:"runId"`
	Spec  runs.Spec `json:"spec"`
	// RequestedBy names who submitted it (token name, CLI user).
	RequestedBy string `json:"requestedBy,omitempty"`
	// RerunOf links a rerun to the run it repeats.
	RerunOf string `json:"rerunOf,omitempty"`
	// ConversationID links a run started by a conversation message.
	ConversationID string `json:"conversationId,omitempty"`
}

// RunQueued: the run waits for a slot.
type RunQueued struct {
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	Priority int    `json:"priority"`
	Provider string `json:"provider"`
	Pool     string `json:"pool"`
	// Position is 1-based, at the time of queuing.
	Position int `json:"position"`
}

// RunRejected: the run will not be queued.
type RunRejected struct {
	RunID string `json:"runId"`
	// Reason is a stable code (runs.Reason*).
	Reason  string `json:"reason"`
	Message string `json:"message"`
	// Field names the offending request field, when there is one.
	Field string `json:"field,omitempty"`
}

// RunDispatched: one attempt was released to a runner pool.
type RunDispatched struct {
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	Pool     string `json:"pool"`
	Provider string `json:"provider"`
	// Deadline is when the attempt times out, if it has a timeout.
	Deadline *time.Time `json:"deadline,omitempty"`
}

// RunStarted: a runner spawned the agent.
type RunStarted struct {
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	RunnerID string `json:"runnerId"`
	Host     string `json:"host"`
	PID      int    `json:"pid"`
	// Argv is the command line, redacted.
	Argv []string `json:"argv"`
	Cwd  string   `json:"cwd"`
}

// RunProgress: a step people may want to see.
type RunProgress struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	// Phase is a short code: preparing, worktree, spawning, ...
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
}

// RunChunk is a batch of one output stream. Chunks of one attempt and stream
// are numbered from 1 without gaps; Offset is the byte offset of Data in the
// redacted stream (bytes dropped from overlong lines counted).
type RunChunk struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Seq     int64  `json:"seq"`
	Offset  int64  `json:"offset"`
	// Data is the redacted text. Invalid UTF-8 is replaced, never dropped silently.
	Data string `json:"data"`
	// Lines is how many complete lines Data holds.
	Lines int `json:"lines"`
}

// RunChunkStdout is a batch of standard output.
type RunChunkStdout struct{ RunChunk }

// RunChunkStderr is a batch of standard error.
type RunChunkStderr struct{ RunChunk }

// Semantic kinds.
const (
	SemanticMessage    = "message"
	SemanticToolUse    = "tool_use"
	SemanticToolResult = "tool_result"
	SemanticThinking   = "thinking"
	SemanticUsage      = "usage"
	SemanticSession    = "session"
	SemanticResult     = "result"
	SemanticError      = "error"
)

// Usage is token use and cost as the agent reported it (or as the price table filled it).
type Usage struct {
	Model               string   `json:"model,omitempty"`
	InputTokens         int64    `json:"inputTokens"`
	OutputTokens        int64    `json:"outputTokens"`
	CacheReadTokens     int64    `json:"cacheReadTokens,omitempty"`
	CacheCreationTokens int64    `json:"cacheCreationTokens,omitempty"`
	ReasoningTokens     int64    `json:"reasoningTokens,omitempty"`
	CostUSD             *float64 `json:"costUsd,omitempty"`
	// CostEstimated is true when the cost came from Phantom's price table.
	CostEstimated bool `json:"costEstimated,omitempty"`
}

// RunSemantic is one parsed agent event.
type RunSemantic struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	// Kind is one of the Semantic* constants.
	Kind string `json:"kind"`
	// Agent is the adapter that parsed it (claude, codex, gemini, fake).
	Agent string `json:"agent,omitempty"`
	// MessageID groups blocks of one assistant message.
	MessageID string `json:"messageId,omitempty"`
	Role      string `json:"role,omitempty"`
	Text      string `json:"text,omitempty"`
	ToolUseID string `json:"toolUseId,omitempty"`
	ToolName  string `json:"toolName,omitempty"`
	// ToolInput is the tool's input as the agent gave it.
	ToolInput json.RawMessage `json:"toolInput,omitempty"`
	IsError   bool            `json:"isError,omitempty"`
	Usage     *Usage          `json:"usage,omitempty"`
	// SessionID is the provider's session or thread id, for resume.
	SessionID string `json:"sessionId,omitempty"`
	Model     string `json:"model,omitempty"`
	// Subtype carries the agent's own finer kind (e.g. Claude's result subtype).
	Subtype string `json:"subtype,omitempty"`
}

// RunPolicyAudit is one safety-guard decision.
type RunPolicyAudit struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt,omitempty"`
	// Command is the judged command with secrets redacted.
	Command string `json:"command"`
	Cwd     string `json:"cwd,omitempty"`
	// Decision is "allow" or "block".
	Decision string `json:"decision"`
	Rule     string `json:"rule,omitempty"`
	Segment  string `json:"segment,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Mode     string `json:"mode,omitempty"`
	// Origin says who asked: hook, runner, worktree, cli.
	Origin string `json:"origin,omitempty"`
	// Agent names the agent CLI whose hook asked, when a hook did.
	Agent string `json:"agent,omitempty"`
	// Policies names the policies that applied, in order (global,
	// workspace:<path>, profile:<name>, rules:<file>).
	Policies []string `json:"policies,omitempty"`
}

// RunCompatibilityWarning: an option was dropped because the CLI cannot honour it.
type RunCompatibilityWarning struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Option  string `json:"option"`
	Reason  string `json:"reason"`
}

// RunWarning: a problem that did not end the run.
type RunWarning struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// RunCLIMissing: the agent's CLI is not installed where the run was sent.
type RunCLIMissing struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Agent   string `json:"agent"`
	Command string `json:"command"`
	// Install says how to install it.
	Install string `json:"install,omitempty"`
}

// RunCWDMissing: the working directory is gone.
type RunCWDMissing struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Cwd     string `json:"cwd"`
}

// RunRunnerMetrics: resource use of one attempt.
type RunRunnerMetrics struct {
	RunID        string `json:"runId"`
	Attempt      int    `json:"attempt"`
	DurationMs   int64  `json:"durationMs"`
	StdoutBytes  int64  `json:"stdoutBytes"`
	StderrBytes  int64  `json:"stderrBytes"`
	Lines        int64  `json:"lines"`
	Chunks       int64  `json:"chunks"`
	PeakRSSBytes int64  `json:"peakRssBytes,omitempty"`
	CPUUserMs    int64  `json:"cpuUserMs,omitempty"`
	CPUSystemMs  int64  `json:"cpuSystemMs,omitempty"`
}

// RunCLIExit: the agent process exited.
type RunCLIExit struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	// ExitCode is -1 when the process was ended by a signal.
	ExitCode   int    `json:"exitCode"`
	Signal     string `json:"signal,omitempty"`
	DurationMs int64  `json:"durationMs"`
}

// RunStructuredOutput: the final result validated against the run's schema.
type RunStructuredOutput struct {
	RunID   string          `json:"runId"`
	Attempt int             `json:"attempt"`
	Output  json.RawMessage `json:"output"`
}

// RunStructuredOutputInvalid: the final result did not validate.
type RunStructuredOutputInvalid struct {
	RunID   string   `json:"runId"`
	Attempt int      `json:"attempt"`
	Errors  []string `json:"errors"`
}

// RunPaused: the agent was interrupted.
type RunPaused struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	By      string `json:"by,omitempty"`
}

// RunResumed: a paused run continues.
type RunResumed struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	By      string `json:"by,omitempty"`
}

// RunRetryScheduled: the failed attempt will be followed by NextAttempt.
type RunRetryScheduled struct {
	RunID       string    `json:"runId"`
	Attempt     int       `json:"attempt"`
	NextAttempt int       `json:"nextAttempt"`
	NotBefore   time.Time `json:"notBefore"`
	BackoffMs   int64     `json:"backoffMs"`
	Reason      string    `json:"reason"`
}

// RunCompleted: the run ended well.
type RunCompleted struct {
	RunID      string `json:"runId"`
	Attempt    int    `json:"attempt"`
	ExitCode   int    `json:"exitCode"`
	DurationMs int64  `json:"durationMs"`
	// Result is the agent's final answer, when it gave one (redacted).
	Result string `json:"result,omitempty"`
}

// RunFailed: an attempt ended badly; unless Retryable, so did the run.
type RunFailed struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	// Reason is a stable code (runs.Reason*).
	Reason     string `json:"reason"`
	Message    string `json:"message"`
	ExitCode   *int   `json:"exitCode,omitempty"`
	DurationMs int64  `json:"durationMs,omitempty"`
	// Retryable means another attempt will follow (the failure is of a
	// retryable kind and the attempt's dispatch had retries left): the run is
	// not over, and the scheduler answers with run.retry_scheduled (or
	// run.canceled if a cancel came first). false means the run ended here.
	Retryable bool `json:"retryable,omitempty"`
	// ResetsAt is when the provider's quota resets, for a usage_limit or
	// rate_limited failure whose agent said so; the scheduler holds the
	// provider until then.
	ResetsAt *time.Time `json:"resetsAt,omitempty"`
}

// RunCanceled: the run was canceled.
type RunCanceled struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
	By      string `json:"by,omitempty"`
}

// RunArchived: hidden from default listings.
type RunArchived struct {
	RunID string `json:"runId"`
}

// RunWorktreePrepared: the run got its own git worktree.
type RunWorktreePrepared struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Host    string `json:"host"`
	Repo    string `json:"repo"`
	Path    string `json:"path"`
	Branch  string `json:"branch"`
	BaseRef string `json:"baseRef"`
	// Reused is true when an earlier attempt's worktree was kept.
	Reused bool `json:"reused,omitempty"`
}

// RunCheckpointCreated: a commit recording the worktree's state.
type RunCheckpointCreated struct {
	RunID        string `json:"runId"`
	CheckpointID string `json:"checkpointId"`
	Commit       string `json:"commit"`
	Message      string `json:"message,omitempty"`
}

// RunCheckpointRestored: the worktree was reset to a checkpoint.
type RunCheckpointRestored struct {
	RunID        string `json:"runId"`
	CheckpointID string `json:"checkpointId"`
	Commit       string `json:"commit"`
}

// SessionOpened: the agent of an interactive run keeps reading stdin.
type SessionOpened struct {
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	RunnerID string `json:"runnerId"`
}

// SessionInputAccepted: input was written to the agent's stdin.
type SessionInputAccepted struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	InputID string `json:"inputId"`
	// Text is the input, redacted.
	Text string `json:"text"`
}

// SessionClosed: stdin was closed or the agent ended.
type SessionClosed struct {
	RunID   string `json:"runId"`
	Attempt int    `json:"attempt"`
	Reason  string `json:"reason,omitempty"`
}

func (RunRequested) EventType() string               { return "run.requested" }
func (RunQueued) EventType() string                  { return "run.queued" }
func (RunRejected) EventType() string                { return "run.rejected" }
func (RunDispatched) EventType() string              { return "run.dispatched" }
func (RunStarted) EventType() string                 { return "run.started" }
func (RunProgress) EventType() string                { return "run.progress" }
func (RunChunkStdout) EventType() string             { return "run.chunk.stdout" }
func (RunChunkStderr) EventType() string             { return "run.chunk.stderr" }
func (RunSemantic) EventType() string                { return "run.semantic" }
func (RunPolicyAudit) EventType() string             { return "run.policy_audit" }
func (RunCompatibilityWarning) EventType() string    { return "run.compatibility_warning" }
func (RunWarning) EventType() string                 { return "run.warning" }
func (RunCLIMissing) EventType() string              { return "run.cli_missing" }
func (RunCWDMissing) EventType() string              { return "run.cwd_missing" }
func (RunRunnerMetrics) EventType() string           { return "run.runner_metrics" }
func (RunCLIExit) EventType() string                 { return "run.cli_exit" }
func (RunStructuredOutput) EventType() string        { return "run.structured_output" }
func (RunStructuredOutputInvalid) EventType() string { return "run.structured_output_invalid" }
func (RunPaused) EventType() string                  { return "run.paused" }
func (RunResumed) EventType() string                 { return "run.resumed" }
func (RunRetryScheduled) EventType() string          { return "run.retry_scheduled" }
func (RunCompleted) EventType() string               { return "run.completed" }
func (RunFailed) EventType() string                  { return "run.failed" }
func (RunCanceled) EventType() string                { return "run.canceled" }
func (RunArchived) EventType() string                { return "run.archived" }
func (RunWorktreePrepared) EventType() string        { return "run.worktree_prepared" }
func (RunCheckpointCreated) EventType() string       { return "run.checkpoint_created" }
func (RunCheckpointRestored) EventType() string      { return "run.checkpoint_restored" }
func (SessionOpened) EventType() string              { return "session.opened" }
func (SessionInputAccepted) EventType() string       { return "session.input_accepted" }
func (SessionClosed) EventType() string              { return "session.closed" }

func (e RunRequested) AggregateID() string               { return e.RunID }
func (e RunQueued) AggregateID() string                  { return e.RunID }
func (e RunRejected) AggregateID() string                { return e.RunID }
func (e RunDispatched) AggregateID() string              { return e.RunID }
func (e RunStarted) AggregateID() string                 { return e.RunID }
func (e RunProgress) AggregateID() string                { return e.RunID }
func (e RunChunk) AggregateID() string                   { return e.RunID }
func (e RunSemantic) AggregateID() string                { return e.RunID }
func (e RunPolicyAudit) AggregateID() string             { return e.RunID }
func (e RunCompatibilityWarning) AggregateID() string    { return e.RunID }
func (e RunWarning) AggregateID() string                 { return e.RunID }
func (e RunCLIMissing) AggregateID() string              { return e.RunID }
func (e RunCWDMissing) AggregateID() string              { return e.RunID }
func (e RunRunnerMetrics) AggregateID() string           { return e.RunID }
func (e RunCLIExit) AggregateID() string                 { return e.RunID }
func (e RunStructuredOutput) AggregateID() string        { return e.RunID }
func (e RunStructuredOutputInvalid) AggregateID() string { return e.RunID }
func (e RunPaused) AggregateID() string                  { return e.RunID }
func (e RunResumed) AggregateID() string                 { return e.RunID }
func (e RunRetryScheduled) AggregateID() string          { return e.RunID }
func (e RunCompleted) AggregateID() string               { return e.RunID }
func (e RunFailed) AggregateID() string                  { return e.RunID }
func (e RunCanceled) AggregateID() string                { return e.RunID }
func (e RunArchived) AggregateID() string                { return e.RunID }
func (e RunWorktreePrepared) AggregateID() string        { return e.RunID }
func (e RunCheckpointCreated) AggregateID() string       { return e.RunID }
func (e RunCheckpointRestored) AggregateID() string      { return e.RunID }
func (e SessionOpened) AggregateID() string              { return e.RunID }
func (e SessionInputAccepted) AggregateID() string       { return e.RunID }
func (e SessionClosed) AggregateID() string              { return e.RunID }

// RunIDOf returns the run a payload is about, when it is about one.
func RunIDOf(p Payload) (string, bool) {
	if agg, err := AggregateOf(p.EventType()); err == nil && agg == AggregateRun {
		return p.AggregateID(), true
	}
	return "", false
}

// RunEndTypes are the event types that may end a run; Terminal says
// whether one does (a run.failed only when it is not retryable).
func RunEndTypes() []string {
	return []string{RunCompleted{}.EventType(), RunCanceled{}.EventType(), RunRejected{}.EventType(), RunFailed{}.EventType()}
}

// Terminal reports whether p ends its run: nothing about the run follows
// except archiving.
func Terminal(p Payload) bool {
	switch e := p.(type) {
	case *RunCompleted, *RunCanceled, *RunRejected:
		return true
	case *RunFailed:
		return !e.Retryable
	}
	return false
}
