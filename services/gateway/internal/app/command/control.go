package command

import (
	"context"
	"fmt"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// RunStates tells where a run stands.
type RunStates interface {
	// RunStatus returns the run's status ("" when the read model does not
	// have it yet but the event log does) and whether the run exists.
	RunStatus(ctx context.Context, runID string) (runs.Status, bool, error)
}

// CancelSender delivers cancel commands.
type CancelSender interface {
	// SendCancel starts listening to the run's events, then delivers cmd.
	SendCancel(ctx context.Context, cmd commands.CancelRun) (EndWaiter, error)
}

// EndWaiter waits for a run's end.
type EndWaiter interface {
	// WaitEnd returns the run's terminal status within d ("" when none came).
	WaitEnd(ctx context.Context, d time.Duration) runs.Status
	Close()
}

// Cancel is the "cancel a run" use case.
type Cancel struct {
	states RunStates
	bus    CancelSender
	wait   time.Duration
}

// NewCancel returns the use case; wait is how long it waits for the run to
// end before answering that the cancel is under way.
func NewCancel(states RunStates, bus CancelSender, wait time.Duration) *Cancel {
	return &Cancel{states: states, bus: bus, wait: wait}
}

// Run cancels a run: a queued one leaves the queue at once, a running one
// is stopped by its runner. A run that has ended is a conflict.
func (c *Cancel) Run(ctx context.Context, runID, reason, by string) (api.Canceled, error) {
	if !subjects.ValidToken(runID) {
		return api.Canceled{}, apperr.Invalid("id", "run id %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", runs.Clip(runID))
	}
	if len(reason) > 256 || !runs.Printable(reason) {
		return api.Canceled{}, apperr.Invalid("reason", "reason must be 0..=256 bytes of printable characters")
	}
	status, found, err := c.states.RunStatus(ctx, runID)
	if err != nil {
		return api.Canceled{}, apperr.Unavailable(err, "could not read run %s; retry later", runID)
	}
	if !found {
		return api.Canceled{}, apperr.NotFound("no run %s", runID)
	}
	if status.Terminal() {
		return api.Canceled{}, &apperr.Error{Code: problems.Conflict, Instance: "/v1/runs/" + runID,
			Detail: fmt.Sprintf("run %s has already ended (%s): there is nothing to cancel", runID, status)}
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	waiter, err := c.bus.SendCancel(pctx, commands.CancelRun{RunID: runID, Reason: reason, By: by})
	cancel()
	if err != nil {
		return api.Canceled{}, apperr.Unavailable(err, "could not cancel the run: the message bus did not accept the command; retry later")
	}
	defer waiter.Close()
	switch end := waiter.WaitEnd(ctx, c.wait); {
	case end == "":
		return api.Canceled{RunID: runID, Status: api.StatusCanceling}, nil
	case end == runs.StatusCanceled:
		return api.Canceled{RunID: runID, Status: api.StatusCanceled}, nil
	default:
		return api.Canceled{}, &apperr.Error{Code: problems.Conflict, Instance: "/v1/runs/" + runID,
			Detail: fmt.Sprintf("run %s ended (%s) before the cancel took effect", runID, end)}
	}
}

// RequestSource finds a run's request.
type RequestSource interface {
	// Request returns the spec of the run's run.requested, false when there is none.
	Request(ctx context.Context, runID string) (runs.Spec, bool, error)
}

// Rerun is the "rerun a run" use case: a new run from the original request
// with overrides, linked to the original (rerunOf).
type Rerun struct {
	requests RequestSource
	submit   *Submit
}

// NewRerun returns the use case.
func NewRerun(requests RequestSource, submit *Submit) *Rerun {
	return &Rerun{requests: requests, submit: submit}
}

// Run submits the rerun. The overrides are a partial run request: every
// field present replaces the original's (runs.Merge: an explicit value wins,
// a missing one inherits), then the profile fills what both leave out.
func (r *Rerun) Run(ctx context.Context, runID string, overrides runs.Spec, by string) (api.Submitted, error) {
	if !subjects.ValidToken(runID) {
		return api.Submitted{}, apperr.Invalid("id", "run id %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", runs.Clip(runID))
	}
	if err := ValidatePartial(overrides, r.submit.limits); err != nil {
		return api.Submitted{}, err
	}
	orig, found, err := r.requests.Request(ctx, runID)
	if err != nil {
		return api.Submitted{}, apperr.Unavailable(err, "could not read run %s; retry later", runID)
	}
	if !found {
		return api.Submitted{}, apperr.NotFound("no run %s", runID)
	}
	spec := runs.Merge(orig, overrides)
	if spec.Profile == "" {
		spec.Profile = orig.Profile
	}
	return r.submit.Run(ctx, SubmitRequest{Spec: spec, RequestedBy: by, RerunOf: runID})
}
