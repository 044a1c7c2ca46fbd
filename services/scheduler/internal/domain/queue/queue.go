// Package queue is the scheduler's state machine: the runs it knows, the
// order they wait in and the slots they hold. It does no I/O and reads no
// clock; the caller hands it events (as appended to PHANTOM_EVENTS) and asks
// it for decisions.
//
// Two kinds of call:
//   - Apply changes the state from one event. It is idempotent and fenced by
//     attempt: an event already reflected in the state, or one of an older
//     attempt, changes nothing. That is what lets the scheduler apply its own
//     events at once and again when they come back from the stream, and
//     rebuild the whole state by replaying the stream from sequence 1.
//   - Decide, NextDispatches and Cancel answer what to do now. They never
//     change the event-sourced state: the caller appends the events the
//     answer implies and applies them. (Cancel keeps one piece of memory that
//     is not event-sourced, a cancel waiting for its run to start; see Cancel.)
//
// Semantics today: FIFO among queued runs, at most Limits.MaxRunning runs
// dispatched or running overall and Limits.MaxPerProvider per provider, and
// at most Limits.Capacity runs queued. A run whose provider is at its limit
// is skipped, not waited for, so one busy provider does not block the others.
// Priority with aging, per-profile limits and retries change the order and
// the admission rules here, behind the same calls.
package queue

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Tracked lists the event types Apply acts on; a reader of the event log
// need not hand it any other (a run's output chunks are most of the log).
var Tracked = []events.Payload{
	&events.RunRequested{}, &events.RunQueued{}, &events.RunRejected{}, &events.RunDispatched{},
	&events.RunStarted{}, &events.RunCompleted{}, &events.RunFailed{}, &events.RunCanceled{},
}

// Limits are the concurrency and capacity limits of the queue.
type Limits struct {
	// MaxRunning bounds the runs dispatched or running at once.
	MaxRunning int
	// MaxPerProvider bounds the runs dispatched or running at once per provider.
	MaxPerProvider int
	// Capacity bounds the runs waiting in the queue.
	Capacity int
}

// Validate reports the first limit out of range, naming it.
func (l Limits) Validate() error {
	switch {
	case l.MaxRunning < 1:
		return fmt.Errorf("queue limit MaxRunning %d must be at least 1", l.MaxRunning)
	case l.MaxPerProvider < 1:
		return fmt.Errorf("queue limit MaxPerProvider %d must be at least 1", l.MaxPerProvider)
	case l.Capacity < 1:
		return fmt.Errorf("queue limit Capacity %d must be at least 1", l.Capacity)
	}
	return nil
}

// Phase is where a run is, as far as scheduling goes.
type Phase uint8

// Phases. A run moves forward only; a retry (a later issue) moves it from
// PhaseAwaitingRetry back to PhaseQueued with a higher attempt.
const (
	// PhaseRequested: run.requested seen, neither run.queued nor run.rejected yet.
	PhaseRequested Phase = iota + 1
	// PhaseQueued: waiting for a slot.
	PhaseQueued
	// PhaseDispatched: released to its pool, holds a slot, no runner has started it.
	PhaseDispatched
	// PhaseRunning: a runner started it (run.started); holds a slot.
	PhaseRunning
	// PhaseAwaitingRetry: an attempt failed with Retryable set; the slot is free
	// and the run waits for the retry policy (not built yet).
	PhaseAwaitingRetry
	// PhaseFinished: completed, failed, canceled or rejected.
	PhaseFinished
)

func (p Phase) String() string {
	switch p {
	case PhaseRequested:
		return "requested"
	case PhaseQueued:
		return "queued"
	case PhaseDispatched:
		return "dispatched"
	case PhaseRunning:
		return "running"
	case PhaseAwaitingRetry:
		return "awaiting_retry"
	case PhaseFinished:
		return "finished"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// holdsSlot reports whether a run in this phase counts against the limits.
func (p Phase) holdsSlot() bool { return p == PhaseDispatched || p == PhaseRunning }

// Run is what the queue knows of one run.
type Run struct {
	ID       string
	Spec     runs.Spec
	Provider string
	Pool     string
	Priority int
	Phase    Phase
	// Attempt is the attempt queued, dispatched or running (0 while requested).
	Attempt int
	// RunnerID is the runner that started the current attempt.
	RunnerID string
	// DispatchedAt is the time of the current attempt's run.dispatched.
	DispatchedAt time.Time
	// Deadline is the current attempt's deadline, if it has a timeout.
	Deadline *time.Time
}

// CancelRequest is who asked for a cancel and why.
type CancelRequest struct {
	Reason string
	By     string
}

type entry struct {
	Run
	// cancel is a cancel waiting for run.started. It is memory only: the
	// caller keeps the cancel command unacknowledged until it is acted on,
	// so a restart does not lose it.
	cancel *CancelRequest
}

// Queue is the scheduler's state. It is not safe for concurrent use: its
// owner serializes calls.
type Queue struct {
	limits Limits
	runs   map[string]*entry
	// undecided are runs in PhaseRequested, in request order.
	undecided []*entry
	// queued are runs in PhaseQueued, in dispatch order.
	queued      []*entry
	active      int
	perProvider map[string]int
}

// New returns an empty queue with limits (which the caller has validated).
func New(limits Limits) *Queue {
	return &Queue{limits: limits, runs: map[string]*entry{}, perProvider: map[string]int{}}
}

// Limits returns the limits in force.
func (q *Queue) Limits() Limits { return q.limits }

// Get returns what the queue knows of a run.
func (q *Queue) Get(runID string) (Run, bool) {
	e, ok := q.runs[runID]
	if !ok {
		return Run{}, false
	}
	return e.Run, true
}

// Depth is the number of queued runs.
func (q *Queue) Depth() int { return len(q.queued) }

// Active is the number of runs dispatched or running.
func (q *Queue) Active() int { return q.active }

// ActiveFor is the number of runs of provider dispatched or running.
func (q *Queue) ActiveFor(provider string) int { return q.perProvider[provider] }

// Apply changes the state from one event (a payload as events.Decode returns
// it, a pointer) appended at time at. It reports whether anything changed;
// an event already reflected, of a stale attempt, of an unknown run or of a
// type the scheduler does not track changes nothing.
func (q *Queue) Apply(p events.Payload, at time.Time) bool {
	switch e := p.(type) {
	case *events.RunRequested:
		return q.requested(e)
	case *events.RunQueued:
		return q.queuedEv(e)
	case *events.RunRejected:
		r, ok := q.runs[e.RunID]
		if !ok || r.Phase != PhaseRequested {
			return false
		}
		q.finish(r)
		return true
	case *events.RunDispatched:
		return q.dispatched(e, at)
	case *events.RunStarted:
		r, ok := q.runs[e.RunID]
		if !ok || r.Phase != PhaseDispatched || e.Attempt != r.Attempt {
			return false
		}
		r.Phase = PhaseRunning
		r.RunnerID = e.RunnerID
		return true
	case *events.RunCompleted:
		return q.ended(e.RunID, e.Attempt)
	case *events.RunCanceled:
		return q.ended(e.RunID, e.Attempt)
	case *events.RunFailed:
		if e.Retryable {
			return q.attemptFailed(e.RunID, e.Attempt)
		}
		return q.ended(e.RunID, e.Attempt)
	}
	return false
}

func (q *Queue) requested(e *events.RunRequested) bool {
	if _, known := q.runs[e.RunID]; known {
		return false
	}
	r := &entry{Run: Run{
		ID:       e.RunID,
		Spec:     e.Spec,
		Provider: e.Spec.ProviderOrAgent(),
		Pool:     e.Spec.PoolOrDefault(),
		Priority: e.Spec.PriorityOrZero(),
		Phase:    PhaseRequested,
	}}
	q.runs[e.RunID] = r
	q.undecided = append(q.undecided, r)
	return true
}

func (q *Queue) queuedEv(e *events.RunQueued) bool {
	r, ok := q.runs[e.RunID]
	if !ok || e.Attempt <= r.Attempt {
		return false
	}
	switch r.Phase {
	case PhaseRequested:
		q.undecided = remove(q.undecided, r)
	case PhaseAwaitingRetry:
	default:
		return false
	}
	r.Phase = PhaseQueued
	r.Attempt = e.Attempt
	r.RunnerID = ""
	r.DispatchedAt = time.Time{}
	r.Deadline = nil
	q.queued = append(q.queued, r)
	return true
}

func (q *Queue) dispatched(e *events.RunDispatched, at time.Time) bool {
	r, ok := q.runs[e.RunID]
	if !ok || r.Phase != PhaseQueued || e.Attempt != r.Attempt {
		return false
	}
	q.queued = remove(q.queued, r)
	r.Phase = PhaseDispatched
	r.DispatchedAt = at
	r.Deadline = e.Deadline
	q.active++
	q.perProvider[r.Provider]++
	return true
}

// ended handles a terminal event of attempt: completed, canceled, failed for good.
func (q *Queue) ended(runID string, attempt int) bool {
	r, ok := q.runs[runID]
	if !ok || r.Phase == PhaseFinished || attempt < r.Attempt {
		return false
	}
	q.finish(r)
	return true
}

func (q *Queue) attemptFailed(runID string, attempt int) bool {
	r, ok := q.runs[runID]
	if !ok || !r.Phase.holdsSlot() || attempt != r.Attempt {
		return false
	}
	q.release(r)
	r.Phase = PhaseAwaitingRetry
	r.cancel = nil
	return true
}

func (q *Queue) finish(r *entry) {
	switch r.Phase {
	case PhaseRequested:
		q.undecided = remove(q.undecided, r)
	case PhaseQueued:
		q.queued = remove(q.queued, r)
	case PhaseDispatched, PhaseRunning:
		q.release(r)
	}
	r.Phase = PhaseFinished
	r.cancel = nil
	// A finished run is kept only so that a redelivered submit or a late event
	// of it changes nothing; its request is no longer needed.
	r.Spec = runs.Spec{}
	r.Deadline = nil
}

func (q *Queue) release(r *entry) {
	q.active--
	if n := q.perProvider[r.Provider] - 1; n > 0 {
		q.perProvider[r.Provider] = n
	} else {
		delete(q.perProvider, r.Provider)
	}
}

func remove(list []*entry, r *entry) []*entry {
	if i := slices.Index(list, r); i >= 0 {
		return slices.Delete(list, i, i+1)
	}
	return list
}

// Undecided lists the runs requested but neither queued nor rejected, in
// request order. Normally the scheduler decides a run right after requesting
// it; a run stays undecided only when the scheduler stopped in between.
func (q *Queue) Undecided() []string {
	out := make([]string, len(q.undecided))
	for i, r := range q.undecided {
		out[i] = r.ID
	}
	return out
}

// Decision is whether an undecided run is queued or rejected.
type Decision struct {
	RunID string
	// Rejection is set when the run is refused; otherwise it is queued.
	Rejection *Rejection
	// Attempt, Position (1-based), Priority, Provider and Pool describe the queuing.
	Attempt  int
	Position int
	Priority int
	Provider string
	Pool     string
}

// Decide says whether an undecided run is queued or rejected: an invalid
// request is rejected with invalid_request, a full queue with queue_full.
// It reports false when the run is not awaiting a decision.
func (q *Queue) Decide(runID string) (Decision, bool) {
	r, ok := q.runs[runID]
	if !ok || r.Phase != PhaseRequested {
		return Decision{}, false
	}
	d := Decision{RunID: runID}
	if rej := Validate(r.Spec); rej != nil {
		d.Rejection = rej
		return d, true
	}
	if len(q.queued) >= q.limits.Capacity {
		d.Rejection = &Rejection{
			Reason:  runs.ReasonQueueFull,
			Message: fmt.Sprintf("the queue holds %d runs, its capacity", q.limits.Capacity),
		}
		return d, true
	}
	d.Attempt = 1
	d.Position = len(q.queued) + 1
	d.Priority, d.Provider, d.Pool = r.Priority, r.Provider, r.Pool
	return d, true
}

// Dispatch is one attempt of a run to release to its pool.
type Dispatch struct {
	RunID    string
	Attempt  int
	Spec     runs.Spec
	Pool     string
	Provider string
	// Deadline is when the attempt times out, when the run has a timeout.
	Deadline *time.Time
	// DispatchedAt is set for an attempt already dispatched (see AwaitingRunner).
	DispatchedAt time.Time
}

type providerCount struct {
	provider string
	n        int
}

// NextDispatches returns the runs to dispatch now, in order, within the
// limits: at most the free global slots, and per provider at most its free
// slots. A deadline is now plus the run's timeout.
func (q *Queue) NextDispatches(now time.Time) []Dispatch {
	free := q.limits.MaxRunning - q.active
	if free <= 0 || len(q.queued) == 0 {
		return nil
	}
	var out []Dispatch
	var picked []providerCount
	for _, r := range q.queued {
		if len(out) == free {
			break
		}
		i := slices.IndexFunc(picked, func(c providerCount) bool { return c.provider == r.Provider })
		n := q.perProvider[r.Provider]
		if i >= 0 {
			n += picked[i].n
		}
		if n >= q.limits.MaxPerProvider {
			continue
		}
		if i >= 0 {
			picked[i].n++
		} else {
			picked = append(picked, providerCount{r.Provider, 1})
		}
		out = append(out, Dispatch{
			RunID: r.ID, Attempt: r.Attempt, Spec: r.Spec, Pool: r.Pool, Provider: r.Provider,
			Deadline: deadline(r.Spec, now),
		})
	}
	return out
}

func deadline(s runs.Spec, now time.Time) *time.Time {
	if s.TimeoutSeconds == nil {
		return nil
	}
	d := now.Add(time.Duration(*s.TimeoutSeconds) * time.Second).UTC()
	return &d
}

// AwaitingRunner lists the attempts dispatched that no runner has started,
// in dispatch order, each with its dispatch time and deadline.
func (q *Queue) AwaitingRunner() []Dispatch {
	var out []Dispatch
	for _, r := range q.runs {
		if r.Phase == PhaseDispatched {
			out = append(out, Dispatch{
				RunID: r.ID, Attempt: r.Attempt, Spec: r.Spec, Pool: r.Pool, Provider: r.Provider,
				Deadline: r.Deadline, DispatchedAt: r.DispatchedAt,
			})
		}
	}
	slices.SortFunc(out, func(a, b Dispatch) int {
		if c := a.DispatchedAt.Compare(b.DispatchedAt); c != 0 {
			return c
		}
		return strings.Compare(a.RunID, b.RunID)
	})
	return out
}

// CancelAction is what a cancel takes.
type CancelAction uint8

// Cancel actions.
const (
	// CancelNothing: the run is unknown or already finished.
	CancelNothing CancelAction = iota + 1
	// CancelInQueue: the run holds no slot; append run.canceled for Attempt.
	CancelInQueue
	// CancelOnRunner: send a runner cancel to RunnerID for Attempt.
	CancelOnRunner
	// CancelWhenStarted: the run is dispatched and no runner has started it;
	// the cancel is remembered and returned by CancelDue once run.started
	// names the runner.
	CancelWhenStarted
)

// CancelDecision is what to do for a cancel.
type CancelDecision struct {
	Action   CancelAction
	RunID    string
	Attempt  int
	RunnerID string
	// Known is false for a run the queue never saw.
	Known bool
	// Phase is the run's phase when the cancel came.
	Phase Phase
	CancelRequest
}

// Cancel decides what a cancel of runID does. A run that holds no slot
// (requested, queued, awaiting a retry) is canceled in the queue; a running
// one on its runner. A dispatched run that no runner has started yet keeps
// its slot and its dispatch, and the cancel is remembered until run.started
// names the runner to send it to (CancelDue): appending run.canceled at once
// would free the slot while a runner may already be preparing the attempt,
// breaking the limits and leaving two terminal stories for one attempt.
func (q *Queue) Cancel(runID string, req CancelRequest) CancelDecision {
	r, ok := q.runs[runID]
	if !ok {
		return CancelDecision{Action: CancelNothing, RunID: runID, CancelRequest: req}
	}
	d := CancelDecision{RunID: runID, Attempt: r.Attempt, RunnerID: r.RunnerID, Known: true, Phase: r.Phase, CancelRequest: req}
	switch r.Phase {
	case PhaseRequested, PhaseQueued, PhaseAwaitingRetry:
		d.Action = CancelInQueue
	case PhaseRunning:
		d.Action = CancelOnRunner
	case PhaseDispatched:
		d.Action = CancelWhenStarted
		c := req
		r.cancel = &c
	default:
		d.Action = CancelNothing
	}
	return d
}

// CancelDue returns, and forgets, a remembered cancel of a run that has now
// started.
func (q *Queue) CancelDue(runID string) (CancelDecision, bool) {
	r, ok := q.runs[runID]
	if !ok || r.cancel == nil || r.Phase != PhaseRunning {
		return CancelDecision{}, false
	}
	req := *r.cancel
	r.cancel = nil
	return CancelDecision{Action: CancelOnRunner, RunID: runID, Attempt: r.Attempt, RunnerID: r.RunnerID, Known: true, Phase: r.Phase, CancelRequest: req}, true
}

// Entry is one run in a Snapshot.
type Entry struct {
	RunID    string
	Attempt  int
	Provider string
	Pool     string
	Priority int
	Phase    Phase
	RunnerID string
}

// Snapshot is the scheduling state that matters: who waits, in which order,
// and who holds a slot. Two queues that took the same events have equal
// snapshots.
type Snapshot struct {
	Undecided []Entry
	// Queued is in dispatch order.
	Queued []Entry
	// Active (dispatched or running) is sorted by run id.
	Active []Entry
	// AwaitingRetry is sorted by run id.
	AwaitingRetry []Entry
	// Finished counts the finished runs the queue remembers.
	Finished int
}

// Snapshot returns the current state.
func (q *Queue) Snapshot() Snapshot {
	s := Snapshot{Undecided: entries(q.undecided), Queued: entries(q.queued)}
	for _, r := range q.runs {
		switch {
		case r.Phase.holdsSlot():
			s.Active = append(s.Active, entryOf(r))
		case r.Phase == PhaseAwaitingRetry:
			s.AwaitingRetry = append(s.AwaitingRetry, entryOf(r))
		case r.Phase == PhaseFinished:
			s.Finished++
		}
	}
	byID := func(a, b Entry) int { return strings.Compare(a.RunID, b.RunID) }
	slices.SortFunc(s.Active, byID)
	slices.SortFunc(s.AwaitingRetry, byID)
	return s
}

func entries(list []*entry) []Entry {
	out := make([]Entry, len(list))
	for i, r := range list {
		out[i] = entryOf(r)
	}
	return out
}

func entryOf(r *entry) Entry {
	return Entry{RunID: r.ID, Attempt: r.Attempt, Provider: r.Provider, Pool: r.Pool, Priority: r.Priority, Phase: r.Phase, RunnerID: r.RunnerID}
}
