// Package command holds the scheduler's use cases: submit a run, cancel a
// run, and react to an event from the log. Each turns a decision of the
// queue (internal/domain/queue) into events appended to PHANTOM_EVENTS and
// messages to runners, then applies the events it appended to the queue at
// once, so that the next decision sees them. The same events come back
// through the event feed and change nothing the second time.
//
// Every call holds one lock for its whole length, I/O included: decisions
// are taken and recorded one at a time, which is what keeps a run from being
// dispatched twice. Throughput is bounded by the publish round trip, which
// is far above what a queue of coding agents needs.
package command

import (
	"context"
	"errors"
	"fmt"
	"github.com/phantom-run/phantom/pkg/tracing"
	"log/slog"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// Bus is how the scheduler speaks: it appends events and sends commands.
// Each call is idempotent for its id: a message published again with the
// same id within the stream's duplicate window is stored once.
type Bus interface {
	// Append appends one event with ce-id id, tagged with attempt when > 0.
	Append(ctx context.Context, ev events.Payload, id string, attempt int) error
	// Dispatch sends a dispatch message to its pool with id DispatchID.
	Dispatch(ctx context.Context, d commands.Dispatch) error
	// CancelOnRunner sends a cancel to one runner with id RunnerCancelID.
	CancelOnRunner(ctx context.Context, c commands.RunnerCancel) error
}

// Metrics receives what the scheduler does.
type Metrics interface {
	// State is the queue depth and the runs holding a slot, after a change.
	State(depth, active int)
	// Dispatched counts one attempt dispatched.
	Dispatched()
	// Rejected counts one run rejected, by reason.
	Rejected(reason string)
	// Applied observes the time one event took to apply.
	Applied(d time.Duration)
}

// DispatchID is the message id of the dispatch of one attempt (the id the
// other services agreed on).
func DispatchID(runID string, attempt int) string {
	return fmt.Sprintf("dispatch-%s-%d", runID, attempt)
}

// RunnerCancelID is the message id of the runner cancel of one attempt.
func RunnerCancelID(runID string, attempt int) string {
	return fmt.Sprintf("cancel-%s-%d", runID, attempt)
}

// EventID is the ce-id of an event the scheduler appends: one per run,
// event type and attempt, so that appending it again after a restart is
// deduplicated by the stream instead of recorded twice.
func EventID(ev events.Payload, attempt int) string {
	return fmt.Sprintf("scheduler-%s-%s-%d", ev.AggregateID(), ev.EventType(), attempt)
}

// ErrCancelPending means a cancel waits for its run to start: the run is
// dispatched and no runner has said it started it. The caller keeps the
// cancel command unacknowledged and has it delivered again, so a restart of
// the scheduler does not lose it.
var ErrCancelPending = errors.New("the run is dispatched but not started yet: the cancel waits for run.started")

// Event is one event read from the log.
type Event struct {
	// Seq is the stream sequence.
	Seq     uint64
	ID      string
	Source  string
	Time    time.Time
	Payload events.Payload
	// TraceParent and TraceState are the event's trace context; the
	// scheduler keeps a run's from its run.requested.
	TraceParent string
	TraceState  string
}

// Config configures a Scheduler.
type Config struct {
	Limits queue.Limits
	// ResendWindow is how long after its run.dispatched a dispatch message may
	// be sent (again): it must stay below the stream's duplicate window, so a
	// message sent twice is stored once.
	ResendWindow time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Scheduler runs the use cases on one queue.
type Scheduler struct {
	mu      sync.Mutex
	q       *queue.Queue
	bus     Bus
	metrics Metrics
	log     *slog.Logger
	now     func() time.Time
	window  time.Duration
	// live is false while the log is replayed: decisions wait for the end.
	live bool
	// unsent are dispatched attempts whose dispatch message is not known to
	// be stored, in dispatch order.
	unsent  []queue.Dispatch
	lastSeq uint64
	traces  runTraces
}

// New returns a Scheduler with an empty queue, replaying until Recover.
func New(cfg Config, bus Bus, metrics Metrics, log *slog.Logger) (*Scheduler, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("invalid scheduler limits: %w", err)
	}
	if cfg.ResendWindow <= 0 {
		return nil, fmt.Errorf("ResendWindow %s must be positive", cfg.ResendWindow)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Scheduler{q: queue.New(cfg.Limits), bus: bus, metrics: metrics, log: log, now: cfg.Now, window: cfg.ResendWindow, traces: runTraces{}}, nil
}

// Snapshot returns the queue's state.
func (s *Scheduler) Snapshot() queue.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.Snapshot()
}

// LastSeq is the stream sequence of the last event applied from the log.
func (s *Scheduler) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Live reports whether the replay is over and the scheduler takes decisions.
func (s *Scheduler) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Recover ends the replay: from now on the scheduler decides. It resends the
// dispatch messages of attempts dispatched recently enough that the stream
// deduplicates a message already stored (a scheduler may have stopped
// between run.dispatched and its message), then queues or rejects what was
// requested and dispatches what fits.
func (s *Scheduler) Recover(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = true
	now := s.now()
	for _, d := range s.q.AwaitingRunner() {
		if age := now.Sub(d.DispatchedAt); age <= s.window {
			s.unsent = append(s.unsent, d)
		} else {
			// Sending it now could deliver the attempt twice; waiting for a
			// runner is the safe side. Runner liveness and attempt timeouts
			// (a later issue) end an attempt whose message was lost.
			s.log.Warn("dispatched attempt not started; too old to resend safely",
				"run", d.RunID, "attempt", d.Attempt, "age", age.Round(time.Second))
		}
	}
	s.log.Info("queue rebuilt from the event log", "last_seq", s.lastSeq, "queued", s.q.Depth(), "active", s.q.Active(), "resending", len(s.unsent))
	return s.pump(ctx)
}

// Submit handles a submit: a new run is requested, then queued or rejected,
// then dispatched if it fits. A submit of a known run does nothing more than
// finishing what a stopped scheduler may have left undone.
func (s *Scheduler) Submit(ctx context.Context, cmd commands.SubmitRun) error {
	if err := subjects.CheckToken("runId", cmd.RunID); err != nil {
		// No event can be addressed to it: nothing to record, nothing to retry.
		s.log.Warn("submit dropped: invalid run id", "error", err)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, known := s.q.Get(cmd.RunID); known {
		s.log.Debug("submit of a known run ignored", "run", cmd.RunID, "phase", r.Phase.String())
		return s.pump(ctx)
	}
	ev := &events.RunRequested{RunID: cmd.RunID, Spec: cmd.Spec, RequestedBy: cmd.RequestedBy, RerunOf: cmd.RerunOf, ConversationID: cmd.ConversationID}
	tp, ts := tracing.TraceParent(ctx)
	s.traces.remember(cmd.RunID, tp, ts)
	if err := s.append(ctx, ev, 0); err != nil {
		return err
	}
	return s.pump(ctx)
}

// Cancel handles a cancel. A run holding no slot gets run.canceled; a
// running one a cancel to its runner; a dispatched one that no runner has
// started yet is remembered and canceled on its runner when run.started
// arrives (ErrCancelPending tells the caller to deliver the command again
// later). A cancel of a finished or unknown run is logged and dropped.
func (s *Scheduler) Cancel(ctx context.Context, cmd commands.CancelRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.q.Cancel(cmd.RunID, queue.CancelRequest{Reason: cmd.Reason, By: cmd.By})
	switch d.Action {
	case queue.CancelInQueue:
		reason := cmd.Reason
		if reason == "" {
			reason = runs.ReasonCanceled
		}
		if err := s.append(ctx, &events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: reason, By: cmd.By}, d.Attempt); err != nil {
			return err
		}
		return s.pump(ctx)
	case queue.CancelOnRunner:
		return s.cancelOnRunner(ctx, d)
	case queue.CancelWhenStarted:
		// Debug: the command comes back every CommandRetryDelay until the run starts.
		s.log.Debug("cancel waits for the run to start", "run", d.RunID, "attempt", d.Attempt)
		return ErrCancelPending
	default:
		if d.Known {
			s.log.Info("cancel of a finished run ignored", "run", d.RunID)
		} else {
			s.log.Info("cancel of an unknown run ignored", "run", d.RunID)
		}
		return nil
	}
}

// OnEvent applies one event from the log and, once live, reacts: a slot
// freed is filled, a run that started with a cancel waiting is canceled.
func (s *Scheduler) OnEvent(ctx context.Context, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ev.Seq > s.lastSeq {
		s.lastSeq = ev.Seq
	}
	if ev.Payload == nil {
		return nil
	}
	if _, ok := ev.Payload.(*events.RunRequested); ok {
		s.traces.remember(ev.Payload.AggregateID(), ev.TraceParent, ev.TraceState)
	}
	if events.Terminal(ev.Payload) {
		defer s.traces.forget(ev.Payload.AggregateID())
	}
	if !s.apply(ev.Payload, ev.Time) || !s.live {
		return nil
	}
	if started, ok := ev.Payload.(*events.RunStarted); ok {
		if d, due := s.q.CancelDue(started.RunID); due {
			if err := s.cancelOnRunner(ctx, d); err != nil {
				// The cancel command is still unacknowledged and comes back.
				s.log.Warn("could not cancel a run that just started", "run", d.RunID, "error", err)
			}
		}
	}
	return s.pump(ctx)
}

// Tick retries what failed: dispatch messages not sent, decisions not taken.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		return nil
	}
	return s.pump(ctx)
}

// pump takes every decision due: undecided runs are queued or rejected, runs
// that fit are dispatched, dispatch messages not sent yet are sent. Callers
// hold s.mu.
func (s *Scheduler) pump(ctx context.Context) error {
	if !s.live {
		return nil
	}
	for _, id := range s.q.Undecided() {
		d, ok := s.q.Decide(id)
		if !ok {
			continue
		}
		if rej := d.Rejection; rej != nil {
			ev := &events.RunRejected{RunID: id, Reason: rej.Reason, Message: rej.Message, Field: rej.Field}
			if err := s.append(ctx, ev, 0); err != nil {
				return err
			}
			s.metrics.Rejected(rej.Reason)
			s.log.Info("run rejected", "run", id, "reason", rej.Reason, "field", rej.Field, "message", rej.Message)
			continue
		}
		ev := &events.RunQueued{RunID: id, Attempt: d.Attempt, Priority: d.Priority, Provider: d.Provider, Pool: d.Pool, Position: d.Position}
		if err := s.append(ctx, ev, d.Attempt); err != nil {
			return err
		}
	}
	now := s.now()
	for _, d := range s.q.NextDispatches(now) {
		ev := &events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt, Pool: d.Pool, Provider: d.Provider, Deadline: d.Deadline}
		if err := s.appendAt(ctx, ev, d.Attempt, now); err != nil {
			return err
		}
		s.metrics.Dispatched()
		d.DispatchedAt = now
		s.unsent = append(s.unsent, d)
	}
	s.flush(ctx)
	return nil
}

// flush sends the dispatch messages not sent yet. A message that fails stays
// for the next try while its resend window lasts.
func (s *Scheduler) flush(ctx context.Context) {
	now := s.now()
	keep := s.unsent[:0]
	for _, d := range s.unsent {
		r, ok := s.q.Get(d.RunID)
		if !ok || r.Phase != queue.PhaseDispatched || r.Attempt != d.Attempt {
			continue // started, canceled or superseded: the message is moot
		}
		if now.Sub(d.DispatchedAt) > s.window {
			s.log.Error("dispatch message not sent within its resend window; the attempt waits for a timeout",
				"run", d.RunID, "attempt", d.Attempt)
			continue
		}
		msg := commands.Dispatch{RunID: d.RunID, Attempt: d.Attempt, Spec: d.Spec, Pool: d.Pool, Provider: d.Provider, Deadline: d.Deadline, RetriesLeft: 0}
		if err := s.bus.Dispatch(s.traces.of(ctx, d.RunID), msg); err != nil {
			s.log.Warn("could not send a dispatch; will retry", "run", d.RunID, "attempt", d.Attempt, "error", err)
			keep = append(keep, d)
			continue
		}
		s.log.Info("dispatch sent", "run", d.RunID, "attempt", d.Attempt, "pool", d.Pool, "provider", d.Provider)
	}
	clear(s.unsent[len(keep):])
	s.unsent = keep
}

func (s *Scheduler) cancelOnRunner(ctx context.Context, d queue.CancelDecision) error {
	if err := subjects.CheckToken("runnerId", d.RunnerID); err != nil {
		// run.started named a runner no subject can reach; retrying won't help.
		s.log.Error("cannot cancel on the runner", "run", d.RunID, "attempt", d.Attempt, "error", err)
		return nil
	}
	c := commands.RunnerCancel{RunnerID: d.RunnerID, RunID: d.RunID, Attempt: d.Attempt, Reason: d.Reason, By: d.By}
	if err := s.bus.CancelOnRunner(s.traces.of(ctx, d.RunID), c); err != nil {
		return err
	}
	s.log.Info("cancel sent to the runner", "run", d.RunID, "attempt", d.Attempt, "runner", d.RunnerID)
	return nil
}

func (s *Scheduler) append(ctx context.Context, ev events.Payload, attempt int) error {
	return s.appendAt(ctx, ev, attempt, s.now())
}

// appendAt appends ev and applies it at once, as of time at.
func (s *Scheduler) appendAt(ctx context.Context, ev events.Payload, attempt int, at time.Time) error {
	if err := s.bus.Append(s.traces.of(ctx, ev.AggregateID()), ev, EventID(ev, attempt), attempt); err != nil {
		return fmt.Errorf("could not append %s of run %s: %w", ev.EventType(), ev.AggregateID(), err)
	}
	s.apply(ev, at)
	return nil
}

func (s *Scheduler) apply(ev events.Payload, at time.Time) bool {
	start := time.Now()
	changed := s.q.Apply(ev, at)
	s.metrics.Applied(time.Since(start))
	if changed {
		s.metrics.State(s.q.Depth(), s.q.Active())
	}
	return changed
}

// runTraces remembers each live run's trace context (from its request), so
// that everything the scheduler publishes about a run joins the trace of the
// request that caused it, whatever event triggered the publish. Callers hold
// the scheduler's lock.
type runTraces map[string][2]string

func (t runTraces) remember(runID, traceparent, tracestate string) {
	if traceparent != "" {
		t[runID] = [2]string{traceparent, tracestate}
	}
}

func (t runTraces) forget(runID string) { delete(t, runID) }

func (t runTraces) of(ctx context.Context, runID string) context.Context {
	if tc, ok := t[runID]; ok {
		return tracing.WithTraceParent(ctx, tc[0], tc[1])
	}
	return ctx
}
