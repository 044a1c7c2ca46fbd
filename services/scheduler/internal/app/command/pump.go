package command

import (
	"context"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// Release reasons of provider.released.
const (
	ReleaseExpired = "expired"
)

// pump takes every decision due, in an order that lets each see the ones
// before it: attempts past their deadline fail, failed attempts are retried
// (or held, canceled, given up), backoffs that ended are queued again,
// holds that ended are released, undecided runs are queued or rejected,
// and the runs that fit are dispatched. Then it publishes what it decided.
// Callers hold s.mu.
func (s *Scheduler) pump(ctx context.Context) error {
	if !s.live {
		return nil
	}
	// The decisions go into the outbox after whatever an earlier call left
	// there (the order stays the decisions' order), and are all published
	// together at the end.
	if !s.cfg.Leading() {
		return ErrNotLeader
	}
	if err := s.tooOld(); err != nil {
		return err
	}
	now := s.now()
	overdue := s.q.Overdue(now)
	if len(overdue) > 0 {
		// Their failures are appended at once (on condition): what the
		// outbox holds goes first, in order.
		if err := s.ready(ctx); err != nil {
			return err
		}
	}
	for _, r := range overdue {
		left := max(r.MaxRetries(s.cfg.Policy)-r.Retries, 0)
		ev := &events.RunFailed{RunID: r.ID, Attempt: r.Attempt, Reason: runs.ReasonTimeout,
			Message:   "no runner reported the attempt's end by its deadline " + r.Deadline.Format(time.RFC3339) + " and the grace after it",
			Retryable: runs.AttemptRetryable(r.Spec, runs.ReasonTimeout, left)}
		s.log.Warn("attempt overdue: failing it", "run", r.ID, "attempt", r.Attempt, "deadline", r.Deadline)
		// It races with a runner that may report the end at last.
		if _, err := s.appendIf(ctx, ev, r.Attempt, now); err != nil {
			return err
		}
	}
	s.retries(now)
	for _, rq := range s.q.DueRequeues(now) {
		r, _ := s.q.Get(rq.RunID)
		ev := &events.RunQueued{RunID: rq.RunID, Attempt: rq.NextAttempt, Priority: r.Priority, Provider: r.Provider, Pool: r.Pool, Position: rq.Position}
		s.emit(ev, rq.NextAttempt, EventID(ev, rq.NextAttempt), now)
	}
	for _, h := range s.q.ExpiredHolds(now) {
		ev := &events.ProviderReleased{Provider: h.Provider, Until: h.Until, Reason: ReleaseExpired}
		s.log.Info("provider hold over", "provider", h.Provider, "until", h.Until)
		s.emit(ev, 0, EventID(ev, 0, h.Until.UTC().Format("20060102T150405.000000000")), now)
	}
	for _, id := range s.q.Undecided() {
		d, ok := s.q.Decide(id, now, 0)
		if !ok {
			continue
		}
		if rej := d.Rejection; rej != nil {
			ev := &events.RunRejected{RunID: id, Reason: rej.Reason, Message: rej.Message, Field: rej.Field}
			s.emit(ev, 0, EventID(ev, 0), now)
			s.metrics.Rejected(rej.Reason)
			s.log.Info("run rejected", "run", id, "reason", rej.Reason, "field", rej.Field, "message", rej.Message)
			continue
		}
		ev := &events.RunQueued{RunID: id, Attempt: d.Attempt, Priority: d.Priority, Provider: d.Provider, Pool: d.Pool, Position: d.Position}
		s.emit(ev, d.Attempt, EventID(ev, d.Attempt), now)
	}
	if s.cfg.Leading() {
		for _, d := range s.q.NextDispatches(now) {
			ev := &events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt, Pool: d.Pool, Provider: d.Provider, Deadline: d.Deadline}
			s.emit(ev, d.Attempt, EventID(ev, d.Attempt), now)
			s.metrics.Dispatched()
			d.DispatchedAt = now
			s.unsent = append(s.unsent, d)
		}
	}
	return s.flush(ctx)
}

// retries decides every attempt that failed retryably.
func (s *Scheduler) retries(now time.Time) {
	for _, d := range s.q.Retries(now) {
		switch d.Action {
		case queue.RetryCancel:
			reason := d.Cancel.Reason
			if reason == "" {
				reason = runs.ReasonCanceled
			}
			ev := &events.RunCanceled{RunID: d.RunID, Attempt: d.NextAttempt, Reason: reason, By: d.Cancel.By}
			s.emit(ev, d.NextAttempt, EventID(ev, d.NextAttempt), now)
		case queue.RetrySchedule:
			if h := d.Hold; h != nil {
				ev := &events.ProviderHeld{Provider: h.Provider, Until: h.Until, Reason: h.Reason, RunID: h.RunID,
					Attempt: h.Attempt, Message: h.Message, ResetKnown: h.ResetKnown}
				s.emit(ev, 0, EventID(ev, h.Attempt, h.RunID), now)
				s.metrics.Held(h.Provider)
				s.log.Warn("provider on hold: its quota ran out", "provider", h.Provider, "until", h.Until,
					"reset_known", h.ResetKnown, "reason", h.Reason, "run", h.RunID)
			}
			ev := &events.RunRetryScheduled{RunID: d.RunID, Attempt: d.Attempt, NextAttempt: d.NextAttempt,
				NotBefore: d.NotBefore, BackoffMs: d.Backoff.Milliseconds(), Reason: d.Reason}
			s.emit(ev, d.Attempt, EventID(ev, d.Attempt), now)
			s.metrics.Retried(d.Reason)
			s.log.Info("retry scheduled", "run", d.RunID, "attempt", d.Attempt, "next", d.NextAttempt,
				"not_before", d.NotBefore, "reason", d.Reason)
		case queue.RetryGiveUp:
			ev := &events.RunFailed{RunID: d.RunID, Attempt: d.NextAttempt, Reason: d.Reason, Message: d.Message}
			s.emit(ev, d.NextAttempt, EventID(ev, d.NextAttempt), now)
		}
	}
}

// emit applies ev as of at and puts it in the outbox.
func (s *Scheduler) emit(ev events.Payload, attempt int, id string, at time.Time) {
	tp, ts := s.traces.of(ev.AggregateID())
	s.outbox = append(s.outbox, pending{
		msg:     Msg{Event: ev, ID: id, Attempt: attempt, Time: at, TraceParent: tp, TraceState: ts},
		decided: s.now(),
	})
	s.apply(ev, at)
}

// ready checks that this instance may decide, and publishes what an
// earlier call left in the outbox (before a decision that must be applied
// only once stored, see appendIf).
func (s *Scheduler) ready(ctx context.Context) error {
	if !s.cfg.Leading() {
		return ErrNotLeader
	}
	if len(s.outbox) == 0 {
		return nil
	}
	return s.flush(ctx)
}

// tooOld fails when the outbox holds a decision older than the resend
// window: publishing it now could store it twice.
func (s *Scheduler) tooOld() error {
	if len(s.outbox) > 0 && s.now().Sub(s.outbox[0].decided) > s.cfg.ResendWindow {
		return ErrStateSuspect
	}
	return nil
}

// flush publishes the outbox in one round, then the dispatch messages and
// runner cancels of what is stored, in a second.
func (s *Scheduler) flush(ctx context.Context) error {
	if len(s.outbox) > 0 {
		msgs := make([]Msg, len(s.outbox))
		for i, p := range s.outbox {
			msgs[i] = p.msg
		}
		n, err := s.bus.Publish(ctx, msgs)
		clear(s.outbox[:n])
		s.outbox = s.outbox[n:]
		if err != nil && len(s.outbox) > 0 {
			if age := s.now().Sub(s.outbox[0].decided); age > s.cfg.ResendWindow {
				return ErrStateSuspect
			}
			return err
		}
		s.outbox = nil
	}
	return s.flushCommands(ctx)
}

// flushCommands sends the dispatch messages not sent yet and the runner
// cancels. A message that fails stays for the next try (a dispatch while
// its resend window lasts): the decision is recorded, so the failure is not
// the caller's.
func (s *Scheduler) flushCommands(ctx context.Context) error {
	if len(s.unsent) == 0 && len(s.cancels) == 0 {
		return nil
	}
	now := s.now()
	var msgs []Msg
	var sent []queue.Dispatch
	for _, d := range s.unsent {
		r, ok := s.q.Get(d.RunID)
		if !ok || r.Phase != queue.PhaseDispatched || r.Attempt != d.Attempt {
			continue // started, canceled or superseded: the message is moot
		}
		if now.Sub(d.DispatchedAt) > s.cfg.ResendWindow {
			s.log.Error("dispatch message not sent within its resend window; the attempt waits for its deadline or a cancel",
				"run", d.RunID, "attempt", d.Attempt)
			continue
		}
		tp, ts := s.traces.of(d.RunID)
		msgs = append(msgs, Msg{Command: commands.Dispatch{RunID: d.RunID, Attempt: d.Attempt, Spec: d.Spec, Pool: d.Pool,
			Provider: d.Provider, Deadline: d.Deadline, RetriesLeft: d.RetriesLeft, ConversationID: d.ConversationID},
			ID: DispatchID(d.RunID, d.Attempt), Attempt: d.Attempt, TraceParent: tp, TraceState: ts})
		sent = append(sent, d)
	}
	for _, c := range s.cancels {
		tp, ts := s.traces.of(c.RunID)
		msgs = append(msgs, Msg{Command: c, ID: RunnerCancelID(c.RunID, c.Attempt), Attempt: c.Attempt, TraceParent: tp, TraceState: ts})
	}
	if len(msgs) == 0 {
		s.unsent, s.cancels = s.unsent[:0], s.cancels[:0]
		return nil
	}
	n, err := s.bus.Publish(ctx, msgs)
	for i := 0; i < n; i++ {
		switch c := msgs[i].Command.(type) {
		case commands.Dispatch:
			s.log.Debug("dispatch sent", "run", c.RunID, "attempt", c.Attempt, "pool", c.Pool, "provider", c.Provider)
		case commands.RunnerCancel:
			s.q.CancelSent(c.RunID, c.Attempt)
			s.log.Info("cancel sent to the runner", "run", c.RunID, "attempt", c.Attempt, "runner", c.RunnerID)
		}
	}
	if n >= len(sent) {
		s.unsent = s.unsent[:0]
		s.cancels = append(s.cancels[:0], s.cancels[n-len(sent):]...)
	} else {
		s.unsent = append(s.unsent[:0], sent[n:]...)
	}
	if err != nil {
		s.log.Warn("could not send dispatch messages or cancels; will retry", "error", err)
	}
	return nil
}
