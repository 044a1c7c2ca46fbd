package queue

import (
	"fmt"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// Bounds of a run request, from the specification.
const (
	MinPriority       = -10
	MaxPriority       = 10
	MinTimeoutSeconds = 5
	MaxTimeoutSeconds = 10800
)

// Rejection is why a run is not queued: a stable reason code (runs.Reason*),
// a message for people and, for an invalid request, the offending field (its
// JSON name in the run request).
type Rejection struct {
	Reason  string
	Field   string
	Message string
}

// Validate checks a run request again, whatever the gateway checked: the
// scheduler is the last line before a run is released, and commands can be
// published by any client of the bus. It returns nil for a valid spec.
func Validate(s runs.Spec) *Rejection {
	invalid := func(field, format string, args ...any) *Rejection {
		return &Rejection{Reason: runs.ReasonInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if s.Agent == "" {
		return invalid("agent", "agent is required")
	}
	// The agent names a launch template and shows up in subjects and keys.
	if err := subjects.CheckToken("agent", s.Agent); err != nil {
		return invalid("agent", "%v", err)
	}
	if s.Workspace == "" {
		return invalid("workspace", "workspace is required")
	}
	// The pool becomes the last token of phantom.dispatch.<pool>.
	if s.Pool != "" {
		if err := subjects.CheckToken("pool", s.Pool); err != nil {
			return invalid("pool", "%v", err)
		}
	}
	// The provider is the concurrency key; it follows the same rule so that
	// per-provider limits and metrics never see a surprising key.
	if s.Provider != "" {
		if err := subjects.CheckToken("provider", s.Provider); err != nil {
			return invalid("provider", "%v", err)
		}
	}
	if p := s.Priority; p != nil && (*p < MinPriority || *p > MaxPriority) {
		return invalid("priority", "priority %d must be in %d..=%d", *p, MinPriority, MaxPriority)
	}
	if t := s.TimeoutSeconds; t != nil && (*t < MinTimeoutSeconds || *t > MaxTimeoutSeconds) {
		return invalid("timeoutSeconds", "timeoutSeconds %d must be in %d..=%d", *t, MinTimeoutSeconds, MaxTimeoutSeconds)
	}
	switch s.Isolation {
	case runs.IsolationAuto, runs.IsolationWorktree, runs.IsolationNone:
	default:
		return invalid("isolation", "isolation %q must be %q, %q or empty", s.Isolation, runs.IsolationWorktree, runs.IsolationNone)
	}
	return nil
}
