package queue

import (
	"fmt"
	"hash/fnv"
	"sort"
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
)

// RetryAction is what follows a retryable failure.
type RetryAction uint8

// Retry actions.
const (
	// RetrySchedule: append run.retry_scheduled (and provider.held when Hold is set).
	RetrySchedule RetryAction = iota + 1
	// RetryCancel: a cancel came for the run: append run.canceled of
	// NextAttempt instead (the failed attempt is abandoned).
	RetryCancel
	// RetryGiveUp: no retry is left: append run.failed (not retryable) of
	// NextAttempt. It happens only when a runner said Retryable against the
	// retry budget the scheduler gave it.
	RetryGiveUp
)

// RetryDecision is what to do for one run whose attempt failed retryably.
type RetryDecision struct {
	Action  RetryAction
	RunID   string
	Attempt int
	// Reason and Message are the failure's.
	Reason  string
	Message string
	// NextAttempt, NotBefore and Backoff describe a scheduled retry.
	NextAttempt int
	NotBefore   time.Time
	Backoff     time.Duration
	// Hold is the provider hold the failure asks for, when it extends the
	// provider's current hold.
	Hold *Hold
	// Cancel is the cancel that turns the retry into run.canceled.
	Cancel CancelRequest
}

// Retries decides every run whose attempt failed retryably, in request
// order: a quota failure (usage or rate limit) holds the provider until its
// reset (or the default hold) and re-queues the run at once without
// counting a retry; another retryable failure is retried after an
// exponential backoff with jitter while retries are left; a run with a
// cancel waiting is canceled instead.
func (q *Queue) Retries(now time.Time) []RetryDecision {
	var pending []*entry
	for _, r := range q.runs {
		if r.Phase == PhaseRetryPending {
			pending = append(pending, r)
		}
	}
	sort.Slice(pending, func(i, j int) bool { return pending[i].seq < pending[j].seq })
	var out []RetryDecision
	// Holds decided in this call, so two failures of one provider agree.
	decided := map[string]time.Time{}
	for _, r := range pending {
		f := r.Failure
		if f == nil {
			f = &Failure{Reason: runs.ReasonInternal, At: now}
		}
		d := RetryDecision{RunID: r.ID, Attempt: r.Attempt, NextAttempt: r.Attempt + 1, Reason: f.Reason, Message: f.Message}
		switch {
		case r.cancel != nil:
			d.Action, d.Cancel = RetryCancel, *r.cancel
		case runs.HoldReason(f.Reason):
			d.Action, d.NotBefore = RetrySchedule, f.At
			h := q.holdFor(r, f, now)
			cur := decided[r.Provider]
			if old, ok := q.holds[r.Provider]; ok && old.Until.After(cur) {
				cur = old.Until
			}
			if h.Until.After(cur) {
				d.Hold = &h
				decided[r.Provider] = h.Until
			}
		case r.Retries < r.MaxRetries(q.policy) && retryableKind(r.Spec, f.Reason):
			d.Action = RetrySchedule
			d.Backoff = q.Backoff(r.Spec, r.ID, r.Retries+1)
			d.NotBefore = f.At.Add(d.Backoff)
		default:
			d.Action = RetryGiveUp
			d.Message = fmt.Sprintf("%s (no retry left: %d of %d used)", f.Message, r.Retries, r.MaxRetries(q.policy))
		}
		out = append(out, d)
	}
	return out
}

// retryableKind reports whether a failure reason may be retried at all;
// the runner said Retryable, the scheduler checks again (a failure it
// recorded itself, a request without a retry on timeout).
func retryableKind(s runs.Spec, reason string) bool {
	if reason == runs.ReasonTimeout {
		return s.RetryOnTimeout != nil && *s.RetryOnTimeout
	}
	return runs.RetryableReason(reason)
}

// holdFor is the hold a quota failure of r asks for.
func (q *Queue) holdFor(r *entry, f *Failure, now time.Time) Hold {
	at := f.At
	if at.IsZero() {
		at = now
	}
	h := Hold{Provider: r.Provider, Reason: f.Reason, RunID: r.ID, Attempt: r.Attempt, Message: f.Message}
	switch {
	case f.ResetsAt != nil && f.ResetsAt.After(at) && !f.ResetsAt.After(at.Add(q.policy.MaxHold)):
		h.Until, h.ResetKnown = f.ResetsAt.UTC(), true
	case f.ResetsAt != nil && f.ResetsAt.After(at):
		// A reset further away than any hold should last: the most we hold.
		h.Until = at.Add(q.policy.MaxHold).UTC()
	default:
		h.Until = at.Add(q.policy.DefaultHold).UTC()
	}
	return h
}

// Backoff is the wait before retry number n (1-based) of a run: the
// request's first backoff doubled for each retry before it, capped at the
// largest backoff a request may ask for, then jittered into its upper half
// (equal jitter). The jitter is a hash of the run and the retry, so every
// scheduler instance computes the same wait, and the result stays within
// 100..=600000 ms.
func (q *Queue) Backoff(s runs.Spec, runID string, n int) time.Duration {
	base := s.RetryBackoffOr(q.policy.DefaultBackoff)
	maxB := time.Duration(runs.MaxRetryBackoffMs) * time.Millisecond
	exp := base
	for i := 1; i < n && exp < maxB; i++ {
		exp *= 2
	}
	exp = min(exp, maxB)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", runID, n)
	half := exp / 2
	d := half + time.Duration(h.Sum64()%uint64(half+1))
	return max(d, time.Duration(runs.MinRetryBackoffMs)*time.Millisecond)
}

// Requeue is a retry whose backoff has ended: append run.queued of NextAttempt.
type Requeue struct {
	RunID       string
	NextAttempt int
	Position    int
}

// DueRequeues lists the runs in backoff whose NotBefore has come, in order
// of NotBefore.
func (q *Queue) DueRequeues(now time.Time) []Requeue {
	var due []*entry
	for _, r := range q.runs {
		if r.Phase == PhaseBackoff && !now.Before(r.NotBefore) {
			due = append(due, r)
		}
	}
	sort.Slice(due, func(i, j int) bool {
		if c := due[i].NotBefore.Compare(due[j].NotBefore); c != 0 {
			return c < 0
		}
		return due[i].seq < due[j].seq
	})
	out := make([]Requeue, len(due))
	for i, r := range due {
		out[i] = Requeue{RunID: r.ID, NextAttempt: r.Attempt + 1,
			Position: 1 + sort.Search(len(q.queued), func(i int) bool { return less(r, q.queued[i]) })}
	}
	return out
}

// ExpiredHolds lists the holds whose end has come, by provider.
func (q *Queue) ExpiredHolds(now time.Time) []Hold {
	var out []Hold
	for _, h := range q.holds {
		if !now.Before(h.Until) {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out
}

// Overdue lists the attempts dispatched or running whose deadline passed
// more than the policy's grace ago: their runner never reported the end.
func (q *Queue) Overdue(now time.Time) []Run {
	var out []Run
	for _, r := range q.runs {
		if r.Phase.holdsSlot() && r.Deadline != nil && now.After(r.Deadline.Add(q.policy.DeadlineGrace)) {
			out = append(out, r.Run)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// NextWake is the earliest time after now at which a decision becomes due
// by itself (a backoff ends, a hold ends, an attempt becomes overdue), or
// the zero time when none will.
func (q *Queue) NextWake(now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, r := range q.runs {
		switch {
		case r.Phase == PhaseBackoff:
			consider(r.NotBefore)
		case r.Phase.holdsSlot() && r.Deadline != nil:
			consider(r.Deadline.Add(q.policy.DeadlineGrace).Add(time.Millisecond))
		}
	}
	for _, h := range q.holds {
		consider(h.Until)
	}
	return next
}
