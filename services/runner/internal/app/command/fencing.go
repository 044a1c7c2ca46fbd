package command

import (
	"context"

	"github.com/phantom-run/phantom/contracts/events"
)

// Fencer tells whether the event log shows an attempt taken from this
// runner: a newer attempt of its run dispatched, or the attempt ended by
// the scheduler (runner_lost, timeout) or the run ended by it.
type Fencer interface {
	// Fenced reports whether the attempt is fenced, and why.
	Fenced(ctx context.Context, runID string, attempt int) (bool, string, error)
}

// stopFenced: the scheduler gave the attempt up (see Fence).
const stopFenced = "fenced"

// outcomeFenced is the outcome of an attempt stopped by fencing.
const outcomeFenced = "fenced"

// Fence stops every attempt held here that the event log shows was taken
// from this runner. A runner that was cut off long enough to be declared
// lost comes back still running its agents; by then the scheduler has
// failed those attempts and may have given the runs to other runners. Such
// an attempt's agent is stopped (interrupt, terminate, kill) and nothing is
// recorded as its end: the scheduler already recorded it. It is called at
// every heartbeat, so a runner that comes back stops them within one.
func (r *Runner) Fence(ctx context.Context, f Fencer) {
	r.mu.Lock()
	held := make([]*attempt, 0, len(r.attempts))
	for _, a := range r.attempts {
		held = append(held, a)
	}
	r.mu.Unlock()
	for _, a := range held {
		fenced, why, err := f.Fenced(ctx, a.d.RunID, a.d.Attempt)
		if err != nil {
			if ctx.Err() == nil {
				r.log.Debug("could not check the attempt's fencing", "run", a.d.RunID, "attempt", a.d.Attempt, "error", err)
			}
			continue
		}
		if fenced && a.requestStop(stop{reason: stopFenced, detail: why}) {
			r.log.Warn("attempt taken from this runner: stopping it", "run", a.d.RunID, "attempt", a.d.Attempt, "why", why)
		}
	}
}

// fencedEnd records the end of a fenced attempt: a warning, no terminal
// event (the scheduler recorded the attempt's end already).
func (x *execution) fencedEnd() string {
	d := x.a.d
	why := x.a.stopRequested().detail
	x.appendOrLog(events.RunWarning{RunID: d.RunID, Attempt: d.Attempt, Code: "fenced",
		Message: "the agent was stopped: this attempt was taken from runner " + x.cfg.RunnerID + " (" + why + ")"})
	return outcomeFenced
}
