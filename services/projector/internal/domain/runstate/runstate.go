// Package runstate folds run events into the state of one run: the row of the
// runs read model. It is pure (no I/O, no clock): the same events in the same
// order give the same row, whatever the batches they were applied in, which
// is what makes a rebuild from the event log identical to the live table.
//
// The rules:
//   - run.requested fills the request fields; it sets the status only on a
//     run not seen before. A run whose first event is not run.requested gets a
//     placeholder (empty request fields, status requested) that run.requested
//     fills when it comes, so no event is lost to ordering.
//   - The status follows the event type: queued, rejected, dispatched,
//     preparing (worktree prepared or a "preparing" progress step after
//     dispatch), running (run.started, run.resumed), paused, retry_scheduled,
//     completed, failed, canceled.
//   - Fencing: an event of an attempt older than the run's current attempt
//     changes nothing but the run's last_seq and updated_at. An event of a newer
//     attempt makes it current and clears what described the previous attempt
//     (runner, process, exit code, outcome, timestamps but queued_at).
//   - A terminal status (runs.Status.Terminal) never changes again; only
//     run.archived still applies. A retryable run.failed is not terminal: it
//     records the failure (reason, message, exit code), sets the status
//     retry_scheduled (another attempt follows, or the scheduler's cancel
//     of the next attempt), and abandons its attempt: a later event of that
//     attempt (a runner that comes back late) changes nothing but last_seq
//     and updated_at, except the scheduler's run.retry_scheduled, as the
//     scheduler's queue does (whatever the order of such a late event and
//     the retry in the log, both agree).
//   - last_seq and updated_at are the stream sequence and ce-time of the
//     latest event of the run, whatever its type.
package runstate

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Run is one row of the runs read model.
type Run struct {
	ID        string
	Agent     string
	Provider  string
	Pool      string
	Prompt    string
	Workspace string
	// Spec is the JSON of the run's runs.Spec ("{}" until run.requested is seen).
	Spec           []byte
	Status         runs.Status
	Priority       int
	Attempt        int
	RunnerID       *string
	Host           *string
	PID            *int
	Cwd            *string
	ExitCode       *int
	Reason         *string
	Message        *string
	Result         *string
	RerunOf        *string
	ConversationID *string
	RequestedBy    *string
	Archived       bool
	CreatedAt      time.Time
	QueuedAt       *time.Time
	DispatchedAt   *time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
	UpdatedAt      time.Time
	LastSeq        uint64
}

// Event is what the fold needs of one event.
type Event struct {
	// Seq is the stream sequence.
	Seq uint64
	// Time is the event's ce-time.
	Time time.Time
	// Attempt is the attempt the envelope names (ce-attempt), used when the
	// payload has no attempt field of its own; 0 when unknown.
	Attempt int
	Payload events.Payload
}

// emptySpec marks a placeholder: a run known from its events but not yet
// from its run.requested.
var emptySpec = []byte("{}")

// New returns the placeholder row of run id, first seen in ev.
func New(id string, ev Event) *Run {
	return &Run{
		ID:        id,
		Spec:      emptySpec,
		Status:    runs.StatusRequested,
		CreatedAt: ev.Time,
		UpdatedAt: ev.Time,
	}
}

// Placeholder reports whether the run's run.requested has not been seen yet.
func (r *Run) Placeholder() bool { return string(r.Spec) == string(emptySpec) }

// Apply folds one event of this run into r. An event at or below r.LastSeq
// was folded already and changes nothing.
func (r *Run) Apply(ev Event) error {
	if ev.Seq <= r.LastSeq {
		return nil
	}
	r.LastSeq = ev.Seq
	r.UpdatedAt = ev.Time
	t := ev.Time
	switch p := ev.Payload.(type) {
	case *events.RunRequested:
		return r.requested(p, t)
	case *events.RunArchived:
		r.Archived = true
		return nil
	}
	n := AttemptOf(ev.Payload)
	if n == 0 {
		n = ev.Attempt
	}
	if n > 0 && n < r.Attempt {
		return nil // fenced: a late event of an abandoned attempt
	}
	if r.Status.Terminal() {
		return nil
	}
	if _, retry := ev.Payload.(*events.RunRetryScheduled); r.Status == runs.StatusRetryScheduled && n == r.Attempt && !retry {
		return nil // the attempt failed retryably: it is abandoned
	}
	if n > r.Attempt {
		r.newAttempt(n)
	}
	switch p := ev.Payload.(type) {
	case *events.RunQueued:
		r.Status = runs.StatusQueued
		r.QueuedAt = &t
		r.Priority = p.Priority
		if p.Provider != "" {
			r.Provider = p.Provider
		}
		if p.Pool != "" {
			r.Pool = p.Pool
		}
	case *events.RunRejected:
		r.Status = runs.StatusRejected
		r.Reason = opt(p.Reason)
		r.Message = opt(p.Message)
		r.FinishedAt = &t
	case *events.RunDispatched:
		r.Status = runs.StatusDispatched
		r.DispatchedAt = &t
	case *events.RunWorktreePrepared:
		if r.Status == runs.StatusDispatched {
			r.Status = runs.StatusPreparing
		}
	case *events.RunProgress:
		if p.Phase == string(runs.StatusPreparing) && r.Status == runs.StatusDispatched {
			r.Status = runs.StatusPreparing
		}
	case *events.RunStarted:
		r.Status = runs.StatusRunning
		r.RunnerID = opt(p.RunnerID)
		r.Host = opt(p.Host)
		pid := p.PID
		r.PID = &pid
		r.Cwd = opt(p.Cwd)
		r.StartedAt = &t
	case *events.RunPaused:
		r.Status = runs.StatusPaused
	case *events.RunResumed:
		if r.Status == runs.StatusPaused {
			r.Status = runs.StatusRunning
		}
	case *events.RunCLIExit:
		code := p.ExitCode
		r.ExitCode = &code
	case *events.RunCompleted:
		r.Status = runs.StatusCompleted
		code := p.ExitCode
		r.ExitCode = &code
		r.Result = opt(p.Result)
		r.Reason, r.Message = nil, nil
		r.FinishedAt = &t
	case *events.RunFailed:
		r.Reason = opt(p.Reason)
		r.Message = opt(p.Message)
		if p.ExitCode != nil {
			code := *p.ExitCode
			r.ExitCode = &code
		}
		if p.Retryable {
			r.Status = runs.StatusRetryScheduled
		} else {
			r.Status = runs.StatusFailed
			r.FinishedAt = &t
		}
	case *events.RunCanceled:
		r.Status = runs.StatusCanceled
		reason := p.Reason
		if reason == "" {
			reason = runs.ReasonCanceled
		}
		r.Reason = &reason
		r.Message = nil
		if p.By != "" {
			r.Message = opt("canceled by " + p.By)
		}
		r.FinishedAt = &t
	case *events.RunRetryScheduled:
		r.Status = runs.StatusRetryScheduled
		if p.Reason != "" {
			r.Reason = opt(p.Reason)
		}
	}
	return nil
}

func (r *Run) requested(p *events.RunRequested, t time.Time) error {
	spec, err := json.Marshal(p.Spec)
	if err != nil {
		return fmt.Errorf("could not encode the spec of run %s: %w", r.ID, err)
	}
	fresh := r.Placeholder() && r.Status == runs.StatusRequested
	r.Agent = p.Spec.Agent
	r.Prompt = p.Spec.Prompt
	r.Workspace = p.Spec.Workspace
	r.Spec = spec
	r.RerunOf = opt(p.RerunOf)
	r.ConversationID = opt(p.ConversationID)
	r.RequestedBy = opt(p.RequestedBy)
	r.CreatedAt = t
	if fresh {
		// Later events (run.queued) carry the scheduler's effective values;
		// the request's own only stand until then.
		r.Provider = p.Spec.ProviderOrAgent()
		r.Pool = p.Spec.PoolOrDefault()
		r.Priority = p.Spec.PriorityOrZero()
	}
	return nil
}

// newAttempt makes attempt n current and forgets what described the previous one.
func (r *Run) newAttempt(n int) {
	r.Attempt = n
	r.RunnerID, r.Host, r.PID, r.Cwd = nil, nil, nil, nil
	r.ExitCode, r.Reason, r.Message, r.Result = nil, nil, nil, nil
	r.DispatchedAt, r.StartedAt, r.FinishedAt = nil, nil, nil
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AttemptOf returns the attempt a run event's payload names, 0 when its type
// has no attempt or leaves it unset.
func AttemptOf(p events.Payload) int {
	switch e := p.(type) {
	case *events.RunQueued:
		return e.Attempt
	case *events.RunDispatched:
		return e.Attempt
	case *events.RunStarted:
		return e.Attempt
	case *events.RunProgress:
		return e.Attempt
	case *events.RunChunkStdout:
		return e.Attempt
	case *events.RunChunkStderr:
		return e.Attempt
	case *events.RunSemantic:
		return e.Attempt
	case *events.RunPolicyAudit:
		return e.Attempt
	case *events.RunCompatibilityWarning:
		return e.Attempt
	case *events.RunWarning:
		return e.Attempt
	case *events.RunCLIMissing:
		return e.Attempt
	case *events.RunCWDMissing:
		return e.Attempt
	case *events.RunRunnerMetrics:
		return e.Attempt
	case *events.RunCLIExit:
		return e.Attempt
	case *events.RunStructuredOutput:
		return e.Attempt
	case *events.RunStructuredOutputInvalid:
		return e.Attempt
	case *events.RunPaused:
		return e.Attempt
	case *events.RunResumed:
		return e.Attempt
	case *events.RunRetryScheduled:
		return e.Attempt
	case *events.RunCompleted:
		return e.Attempt
	case *events.RunFailed:
		return e.Attempt
	case *events.RunCanceled:
		return e.Attempt
	case *events.RunWorktreePrepared:
		return e.Attempt
	case *events.SessionOpened:
		return e.Attempt
	case *events.SessionInputAccepted:
		return e.Attempt
	case *events.SessionClosed:
		return e.Attempt
	}
	return 0
}
