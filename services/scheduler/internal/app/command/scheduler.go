// Package command holds the scheduler's use cases: submit a run, cancel a
// run, react to an event from the log, react to the passing of time
// (backoffs, holds, deadlines, runners that stopped heartbeating), and
// describe the queue. Each turns decisions of the queue
// (internal/domain/queue) into events appended to PHANTOM_EVENTS and
// messages to runners.
//
// # Decisions and the outbox
//
// Every call holds one lock for its whole length, I/O included: decisions
// are taken and recorded one at a time, which is what keeps a run from being
// dispatched twice. A decision is applied to the queue at once (the next
// decision sees it) and its event goes to an ordered outbox; at the end of
// the call the outbox is published in one pipelined round (every event
// sent, then every acknowledgement awaited) and only then are the dispatch
// messages and runner cancels of those decisions sent, in a second round.
// So a dispatch message never exists without its run.dispatched in the log,
// and a submit that is queued and dispatched at once costs two round trips
// instead of four.
//
// A publish that fails leaves the unacknowledged events in the outbox, in
// order; they are published again (same ids: JetStream stores each once)
// before any new decision. On one connection the server stores messages in
// the order sent, so what a failure leaves unstored is a suffix. If the
// outbox cannot be emptied within the resend window (the stream's duplicate
// window less a margin), the decisions in memory can no longer be published
// safely: the call fails with ErrStateSuspect and the service rebuilds the
// queue from the log.
package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/tracing"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/liveness"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// Msg is one message the scheduler sends: an event (Event set), or a
// command or dispatch (Command set).
type Msg struct {
	Event   events.Payload
	Command commands.Command
	// ID is the ce-id and Nats-Msg-Id: derived from what the message is
	// about, so that a message sent again is stored once.
	ID      string
	Attempt int
	// Time is the ce-time of an event: the time the scheduler applied it.
	Time time.Time
	// TraceParent and TraceState are the trace of the run's request.
	TraceParent, TraceState string
}

// Condition makes an append conditional: the event is stored only if the
// last event stored on Subject (wildcards allowed) has sequence Seq.
type Condition struct {
	Subject string
	Seq     uint64
}

// ErrConflict means a conditional append was refused: the log moved.
var ErrConflict = errors.New("the event log moved since the decision was taken")

// Bus is how the scheduler speaks.
type Bus interface {
	// Publish sends msgs in order and waits for their acknowledgements. It
	// returns how many of the first msgs were acknowledged, and the error of
	// the first that was not (nil when all were).
	Publish(ctx context.Context, msgs []Msg) (int, error)
	// AppendIf appends one event if cond holds, else returns ErrConflict.
	AppendIf(ctx context.Context, m Msg, cond Condition) error
}

// Metrics receives what the scheduler does.
type Metrics interface {
	// State is the queue depth, the runs holding a slot and the runs waiting
	// for a retry, after a change.
	State(depth, active, retrying int)
	// Dispatched counts one attempt dispatched.
	Dispatched()
	// Rejected counts one run rejected, by reason.
	Rejected(reason string)
	// Retried counts one retry scheduled, by failure reason.
	Retried(reason string)
	// Held counts one provider hold.
	Held(provider string)
	// RunnerLost counts one runner declared lost.
	RunnerLost()
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

// EventID is the ce-id of an event the scheduler appends: one per
// aggregate, event type and attempt (and tag, for a second event of one
// type and attempt), so that appending it again after a restart, or from a
// second scheduler that took the same decision, is deduplicated by the
// stream instead of recorded twice.
func EventID(ev events.Payload, attempt int, tag ...string) string {
	id := fmt.Sprintf("scheduler-%s-%s-%d", ev.AggregateID(), ev.EventType(), attempt)
	for _, t := range tag {
		id += "-" + t
	}
	return id
}

// Errors the use cases return.
var (
	// ErrCancelPending means a cancel is not done yet: the run is dispatched
	// and no runner has started it, or its runner was told to stop it and
	// has not reported the end. The caller keeps the cancel command
	// unacknowledged and has it delivered again, so a restart of the
	// scheduler does not lose it (and a retry of the run is never scheduled).
	ErrCancelPending = errors.New("the cancel waits for the run to start or to end")
	// ErrNotLeader means this instance does not lead: it takes no decision.
	ErrNotLeader = errors.New("this scheduler is not the active one")
	// ErrStateSuspect means decisions in memory could not be published
	// within the resend window: the queue must be rebuilt from the log.
	ErrStateSuspect = errors.New("decisions could not be published within the resend window; the queue must be rebuilt from the event log")
)

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
	Policy queue.Policy
	// ResendWindow is how long after its decision an event or a dispatch
	// message may be sent (again): it must stay below the stream's duplicate
	// window, so a message sent twice is stored once.
	ResendWindow time.Duration
	// Heartbeat is the heartbeat assumed for a runner whose entry does not say.
	Heartbeat time.Duration
	// Instance names this scheduler in answers.
	Instance string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Leading reports whether this instance may decide now (its lease is
	// fresh); nil means always.
	Leading func() bool
}

// Scheduler runs the use cases on one queue.
type Scheduler struct {
	mu      sync.Mutex
	q       *queue.Queue
	bus     Bus
	metrics Metrics
	log     *slog.Logger
	cfg     Config
	// live is false while the log is replayed or the instance stands by.
	live bool
	// outbox holds events decided and applied, not known to be stored.
	outbox []pending
	// unsent are dispatched attempts whose dispatch message is not known to
	// be stored, in dispatch order.
	unsent []queue.Dispatch
	// cancels are runner cancels to send.
	cancels []commands.RunnerCancel
	// runners tracks heartbeats while live.
	runners *liveness.Tracker
	lastSeq uint64
	// runSeq is, per live run, the sequence of its last event read from the
	// log (whatever its type): the condition of decisions that race with
	// the run's runner.
	runSeq map[string]uint64
	traces runTraces
	// wake is signalled after decisions, when the next wake-up may be sooner.
	wake chan struct{}
}

type pending struct {
	msg     Msg
	decided time.Time
}

// New returns a Scheduler with an empty queue, replaying until Recover.
func New(cfg Config, bus Bus, metrics Metrics, log *slog.Logger) (*Scheduler, error) {
	if err := cfg.Limits.Validate(); err != nil {
		return nil, fmt.Errorf("invalid scheduler limits: %w", err)
	}
	if err := cfg.Policy.Validate(); err != nil {
		return nil, fmt.Errorf("invalid scheduler policy: %w", err)
	}
	if cfg.ResendWindow <= 0 {
		return nil, fmt.Errorf("ResendWindow %s must be positive", cfg.ResendWindow)
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 3 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Leading == nil {
		cfg.Leading = func() bool { return true }
	}
	return &Scheduler{q: queue.New(cfg.Limits, cfg.Policy), bus: bus, metrics: metrics, log: log, cfg: cfg, traces: runTraces{},
		runSeq: map[string]uint64{}, wake: make(chan struct{}, 1)}, nil
}

// Wake is signalled when an event was applied or commands handled: a
// decision may be due, or NextWake may have moved closer.
func (s *Scheduler) Wake() <-chan struct{} { return s.wake }

// now is the clock, in UTC without a monotonic reading, so that a time the
// scheduler applies equals the same time read back from an event.
func (s *Scheduler) now() time.Time { return s.cfg.Now().UTC().Round(0) }

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

// Live reports whether the scheduler takes decisions.
func (s *Scheduler) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live
}

// Recover makes the scheduler decide from now on (after the replay, or when
// this instance becomes the active one). It resends the dispatch messages of
// attempts dispatched recently enough that the stream deduplicates a message
// already stored (a scheduler may have stopped between run.dispatched and its
// message), starts judging runner liveness, then takes every decision due.
func (s *Scheduler) Recover(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = true
	now := s.now()
	s.runners = liveness.New(now, s.cfg.Heartbeat)
	s.unsent = s.unsent[:0]
	for _, d := range s.q.AwaitingRunner() {
		if age := now.Sub(d.DispatchedAt); age <= s.cfg.ResendWindow {
			s.unsent = append(s.unsent, d)
		} else {
			// Sending it now could deliver the attempt twice; waiting for a
			// runner is the safe side. The attempt's deadline (if any) ends
			// it otherwise.
			s.log.Warn("dispatched attempt not started; too old to resend safely",
				"run", d.RunID, "attempt", d.Attempt, "age", age.Round(time.Second))
		}
	}
	s.log.Info("deciding", "last_seq", s.lastSeq, "queued", s.q.Depth(), "active", s.q.Active(),
		"retrying", s.q.Pending()-s.q.Depth(), "resending", len(s.unsent), "limits", s.cfg.Limits.String())
	return s.pump(ctx)
}

// StepDown stops deciding (the lease is gone). What was decided and not
// published is dropped: the caller rebuilds the queue from the log.
func (s *Scheduler) StepDown() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.live = false
	s.outbox, s.unsent, s.cancels, s.runners = nil, nil, nil, nil
}

// Command is one command addressed to the scheduler: a submit or a cancel,
// with the trace context it came with.
type Command struct {
	Submit *commands.SubmitRun
	Cancel *commands.CancelRun
	// TraceParent and TraceState are the command's trace (the request's).
	TraceParent, TraceState string
}

// Submit handles a submit: a new run is requested, then queued or rejected,
// then dispatched if it fits. A submit of a known run does nothing more than
// finishing what a stopped scheduler may have left undone.
func (s *Scheduler) Submit(ctx context.Context, cmd commands.SubmitRun) error {
	tp, ts := tracing.TraceParent(ctx)
	return s.Handle(ctx, []Command{{Submit: &cmd, TraceParent: tp, TraceState: ts}})[0]
}

// Cancel handles a cancel. A run holding no slot gets run.canceled; a
// running one a cancel to its runner; a dispatched one that no runner has
// started yet is remembered and canceled on its runner when run.started
// arrives. Until the run has ended, ErrCancelPending tells the caller to
// deliver the command again later. A cancel of a finished or unknown run is
// logged and dropped.
func (s *Scheduler) Cancel(ctx context.Context, cmd commands.CancelRun) error {
	return s.Handle(ctx, []Command{{Cancel: &cmd}})[0]
}

// Handle handles commands in one go: every submit and cancel is decided in
// order, then the decisions that follow (queuing, dispatching) are taken
// and everything is published in one pipelined round. It returns one error
// per command (nil: done, acknowledge it; ErrCancelPending or ErrNotLeader:
// deliver it again later; another: the publish failed, deliver it again).
func (s *Scheduler) Handle(ctx context.Context, cmds []Command) []error {
	errs := make([]error, len(cmds))
	s.mu.Lock()
	defer s.mu.Unlock()
	fill := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if !s.live || !s.cfg.Leading() {
		return fill(ErrNotLeader)
	}
	pending := make([]bool, len(cmds))
	for i, c := range cmds {
		switch {
		case c.Submit != nil:
			s.submit(*c.Submit, c.TraceParent, c.TraceState)
		case c.Cancel != nil:
			errs[i] = s.cancel(*c.Cancel)
			pending[i] = errors.Is(errs[i], ErrCancelPending)
		}
	}
	if err := s.pump(ctx); err != nil {
		for i := range errs {
			if errs[i] == nil || pending[i] {
				errs[i] = err
			}
		}
	}
	// New deadlines and the like: the wake-up may have moved closer.
	s.signal()
	return errs
}

func (s *Scheduler) submit(cmd commands.SubmitRun, tp, ts string) {
	if err := subjects.CheckToken("runId", cmd.RunID); err != nil {
		// No event can be addressed to it: nothing to record, nothing to retry.
		s.log.Warn("submit dropped: invalid run id", "error", err)
		return
	}
	if r, known := s.q.Get(cmd.RunID); known {
		s.log.Debug("submit of a known run ignored", "run", cmd.RunID, "phase", r.Phase.String())
		return
	}
	s.traces.remember(cmd.RunID, tp, ts)
	ev := &events.RunRequested{RunID: cmd.RunID, Spec: cmd.Spec, RequestedBy: cmd.RequestedBy, RerunOf: cmd.RerunOf, ConversationID: cmd.ConversationID}
	s.emit(ev, 0, EventID(ev, 0), s.now())
}

func (s *Scheduler) cancel(cmd commands.CancelRun) error {
	d := s.q.Cancel(cmd.RunID, queue.CancelRequest{Reason: cmd.Reason, By: cmd.By})
	switch d.Action {
	case queue.CancelInQueue:
		reason := cmd.Reason
		if reason == "" {
			reason = runs.ReasonCanceled
		}
		ev := &events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: reason, By: cmd.By}
		s.emit(ev, d.Attempt, EventID(ev, d.Attempt), s.now())
		return nil
	case queue.CancelOnRunner:
		s.cancelOnRunner(d)
		return ErrCancelPending
	case queue.CancelWhenStarted, queue.CancelAwaitingEnd:
		// Debug: the command comes back every CommandRetryDelay until the run ends.
		s.log.Debug("cancel waits for the run", "run", d.RunID, "attempt", d.Attempt, "phase", d.Phase.String())
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
// freed is filled, a retryable failure is retried, a run that started with
// a cancel waiting is canceled.
func (s *Scheduler) OnEvent(ctx context.Context, ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.applyEvent(ev) || !s.live {
		return nil
	}
	return s.pump(ctx)
}

// ApplyEvent applies one event from the log without deciding yet: it
// signals Wake, and Decide takes what became due (many events may be
// applied between two decisions when the log is busy).
func (s *Scheduler) ApplyEvent(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.applyEvent(ev) && s.live {
		s.signal()
	}
}

// Decide takes every decision due now.
func (s *Scheduler) Decide(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		return nil
	}
	return s.pump(ctx)
}

// signal wakes whoever waits on Wake.
func (s *Scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// applyEvent applies ev; it reports whether the state changed. Callers hold s.mu.
func (s *Scheduler) applyEvent(ev Event) bool {
	if ev.Seq > s.lastSeq {
		s.lastSeq = ev.Seq
	}
	if ev.Payload == nil {
		return false
	}
	if id, ok := events.RunIDOf(ev.Payload); ok && ev.Seq > s.runSeq[id] {
		s.runSeq[id] = ev.Seq
	}
	if _, ok := ev.Payload.(*events.RunRequested); ok {
		s.traces.remember(ev.Payload.AggregateID(), ev.TraceParent, ev.TraceState)
	}
	if events.Terminal(ev.Payload) {
		defer s.traces.forget(ev.Payload.AggregateID())
	}
	at := ev.Time.UTC().Round(0)
	changed := s.apply(ev.Payload, at)
	if id, ok := events.RunIDOf(ev.Payload); ok && changed {
		if r, _ := s.q.Get(id); r.Phase == queue.PhaseFinished {
			delete(s.runSeq, id)
		}
	}
	if !changed || !s.live {
		return changed
	}
	if started, ok := ev.Payload.(*events.RunStarted); ok {
		if d, due := s.q.CancelDue(started.RunID); due {
			s.cancelOnRunner(d)
		}
	}
	return true
}

// OnPosition records that an event of a run the scheduler does not act on
// (an output chunk, say) was read at seq: decisions that race with the run's
// runner are conditional on the run's log not having moved.
func (s *Scheduler) OnPosition(runID string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.lastSeq {
		s.lastSeq = seq
	}
	if r, ok := s.q.Get(runID); ok && r.Phase != queue.PhaseFinished && seq > s.runSeq[runID] {
		s.runSeq[runID] = seq
	}
}

// RunnerSeen records a runner's heartbeat (an entry written in
// phantom_runners at at, with its interval).
func (s *Scheduler) RunnerSeen(runnerID string, at time.Time, heartbeat time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runners != nil {
		s.runners.Seen(runnerID, at, heartbeat)
	}
}

// RunnerGone records that a runner deleted its entry (it drained).
func (s *Scheduler) RunnerGone(runnerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runners != nil {
		s.runners.Gone(runnerID)
	}
}

// Tick takes the decisions time made due: runners that stopped
// heartbeating, backoffs and holds that ended, attempts past their deadline;
// it also retries what failed and forgets runs finished long ago.
func (s *Scheduler) Tick(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		return nil
	}
	if err := s.ready(ctx); err != nil {
		return err
	}
	now := s.now()
	s.q.Prune(now)
	for _, r := range s.runners.Lost(now, s.q.Runners()) {
		if err := s.runnerLost(ctx, r, now); err != nil {
			s.runners.Unreport(r.ID)
			return err
		}
	}
	return s.pump(ctx)
}

// NextWake is when a decision becomes due by itself (zero: none will).
func (s *Scheduler) NextWake() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.live {
		return time.Time{}
	}
	now := s.now()
	next := s.q.NextWake(now)
	if t := s.runners.Next(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
		next = t.Add(time.Millisecond)
	}
	return next
}

// Queue describes the queue as it stands.
func (s *Scheduler) Queue(req rpc.SchedulerQueueRequest) rpc.SchedulerQueueReply {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	l := s.cfg.Limits
	jobs := s.q.Jobs(now, req.Pool, req.Provider)
	reply := rpc.SchedulerQueueReply{
		Instance: s.cfg.Instance, AsOf: now,
		Limits: rpc.SchedulerLimits{MaxRunning: l.MaxRunning, MaxPerProvider: l.MaxPerProvider, Capacity: l.Capacity,
			Providers: l.Providers, Workspaces: l.Workspaces, Profiles: s.q.ProfileLimits(),
			AgingHorizonMs: s.cfg.Policy.AgingHorizon.Milliseconds()},
		Pending: len(jobs), Running: s.q.Active(), Jobs: jobs,
	}
	if req.Limit > 0 && len(reply.Jobs) > req.Limit {
		reply.Jobs = reply.Jobs[:req.Limit]
	}
	if len(reply.Limits.Profiles) == 0 {
		reply.Limits.Profiles = nil
	}
	return reply
}

// runnerLost records a runner gone without a word: runner.lost, then
// run.failed runner_lost for every attempt it had started (retryable while
// retries are left). Its dispatches not started are JetStream's: the pool's
// consumer delivers them to another runner after its ack wait.
//
// Each failure races with the runner: one that is only slow may still
// report the attempt's end. So each is appended only if the run's log has
// not moved since the scheduler last read it, and applied once stored; a
// run whose log moved is left alone and the runner judged again at the next
// tick (Unreport), by then with the news read.
func (s *Scheduler) runnerLost(ctx context.Context, r liveness.Runner, now time.Time) error {
	held := s.q.RunningOn(r.ID)
	ids := make([]string, len(held))
	for i, run := range held {
		ids[i] = run.ID
	}
	lost := &events.RunnerLost{RunnerID: r.ID, LastSeen: r.LastSeen, Runs: ids}
	if _, err := s.bus.Publish(ctx, []Msg{{Event: lost, ID: EventID(lost, 0, fmt.Sprint(r.LastSeen.UnixMilli())), Time: now}}); err != nil {
		return fmt.Errorf("could not record runner %s lost: %w", r.ID, err)
	}
	s.apply(lost, now)
	s.metrics.RunnerLost()
	s.log.Warn("runner lost: no heartbeat", "runner", r.ID, "last_seen", r.LastSeen, "missed", liveness.Missed, "runs", ids)
	moved := false
	for _, run := range held {
		left := max(run.MaxRetries(s.cfg.Policy)-run.Retries, 0)
		ev := &events.RunFailed{RunID: run.ID, Attempt: run.Attempt, Reason: runs.ReasonRunnerLost,
			Message:   fmt.Sprintf("runner %s missed %d heartbeats (last seen %s)", r.ID, liveness.Missed, r.LastSeen.Format(time.RFC3339)),
			Retryable: runs.AttemptRetryable(run.Spec, runs.ReasonRunnerLost, left)}
		ok, err := s.appendIf(ctx, ev, run.Attempt, now)
		if err != nil {
			return err
		}
		moved = moved || !ok
	}
	if moved {
		s.runners.Unreport(r.ID)
	}
	return nil
}

// appendIf appends a decision about a run that races with its runner, on
// condition that the run's log has not moved since it was last read, and
// applies it once stored. It reports false when the log had moved.
func (s *Scheduler) appendIf(ctx context.Context, ev events.Payload, attempt int, now time.Time) (bool, error) {
	id := ev.AggregateID()
	tp, ts := s.traces.of(id)
	m := Msg{Event: ev, ID: EventID(ev, attempt), Attempt: attempt, Time: now, TraceParent: tp, TraceState: ts}
	err := s.bus.AppendIf(ctx, m, Condition{Subject: subjects.AggregateEvents(events.AggregateRun, id), Seq: s.runSeq[id]})
	switch {
	case errors.Is(err, ErrConflict):
		s.log.Info("decision dropped: the run's log moved; judged again", "run", id, "event", ev.EventType(), "attempt", attempt)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("could not append %s of run %s: %w", ev.EventType(), id, err)
	}
	s.apply(ev, now)
	return true, nil
}

func (s *Scheduler) cancelOnRunner(d queue.CancelDecision) {
	if err := subjects.CheckToken("runnerId", d.RunnerID); err != nil {
		// run.started named a runner no subject can reach; retrying won't help.
		s.log.Error("cannot cancel on the runner", "run", d.RunID, "attempt", d.Attempt, "error", err)
		return
	}
	s.cancels = append(s.cancels, commands.RunnerCancel{RunnerID: d.RunnerID, RunID: d.RunID, Attempt: d.Attempt, Reason: d.Reason, By: d.By})
}

func (s *Scheduler) apply(ev events.Payload, at time.Time) bool {
	start := time.Now()
	changed := s.q.Apply(ev, at)
	s.metrics.Applied(time.Since(start))
	if changed {
		s.metrics.State(s.q.Depth(), s.q.Active(), s.q.Pending()-s.q.Depth())
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

func (t runTraces) of(runID string) (string, string) {
	tc := t[runID]
	return tc[0], tc[1]
}
