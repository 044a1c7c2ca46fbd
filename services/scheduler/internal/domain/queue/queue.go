// Package queue is the scheduler's state machine: the runs it knows, the
// order they wait in, the slots they hold, the retries they wait for and the
// providers on hold. It does no I/O and reads no clock; the caller hands it
// events (as appended to PHANTOM_EVENTS, each with its ce-time) and asks it
// for decisions, passing the time.
//
// Two kinds of call:
//   - Apply changes the state from one event. It is idempotent and fenced by
//     attempt: an event already reflected in the state, or one of an older
//     attempt, changes nothing. That is what lets the scheduler apply its own
//     events at once and again when they come back from the stream, and
//     rebuild the whole state by replaying the stream from sequence 1.
//   - Decide, NextDispatches, Retries, DueRequeues, ExpiredHolds, Overdue and
//     Cancel answer what to do now. They never change the event-sourced
//     state: the caller appends the events the answer implies and applies
//     them. (Cancel keeps memory that is not event-sourced, a cancel waiting
//     for its run to start or to end; the caller keeps the cancel command
//     unacknowledged until then, so a restart does not lose it.)
//
// # Order
//
// Queued runs are kept sorted by a key that never changes while they wait:
//
//	key = queuedAt - priority × step,  step = AgingHorizon / 20
//
// which is the order of the effective priority priority + wait/step at any
// instant (higher first; equal keys in request order). So a run's effective
// priority grows by one level per step waited, a -10 run gains the 20 levels
// to 10 in one aging horizon, and no run queued more than one aging horizon
// after it can overtake it. A retry keeps the run's first queuedAt.
//
// # Admission
//
// A run is dispatched when a slot is free overall (MaxRunning), for its
// provider (MaxPerProvider, or its own limit in Providers), for its profile
// (the profile's maxConcurrent, from profile.saved) and for its workspace
// (the limit of the longest root in Workspaces that holds it), and its
// provider is not on hold. A run that does not fit is passed over, not
// waited for, so one busy key does not block the others.
package queue

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Tracked lists the event types Apply acts on; a reader of the event log
// need not hand it any other (a run's output chunks are most of the log).
var Tracked = []string{
	events.RunRequested{}.EventType(), events.RunQueued{}.EventType(), events.RunRejected{}.EventType(),
	events.RunDispatched{}.EventType(), events.RunStarted{}.EventType(), events.RunCompleted{}.EventType(),
	events.RunFailed{}.EventType(), events.RunCanceled{}.EventType(), events.RunRetryScheduled{}.EventType(),
	events.ProviderHeld{}.EventType(), events.ProviderReleased{}.EventType(), events.ProfileSaved{}.EventType(),
}

// Limits are the concurrency and capacity limits of the queue.
type Limits struct {
	// MaxRunning bounds the runs dispatched or running at once.
	MaxRunning int
	// MaxPerProvider bounds the runs dispatched or running at once per
	// provider, unless Providers has the provider's own limit.
	MaxPerProvider int
	// Capacity bounds the runs waiting (queued, or waiting for a retry) when
	// a new run asks to join; a retry is never refused.
	Capacity int
	// Providers are per-provider limits that replace MaxPerProvider.
	Providers map[string]int
	// Workspaces are limits per workspace root (absolute, clean): a run
	// counts against the longest root that is its workspace or holds it.
	Workspaces map[string]int
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
	for p, n := range l.Providers {
		if n < 1 {
			return fmt.Errorf("queue limit of provider %q is %d; it must be at least 1", p, n)
		}
	}
	for w, n := range l.Workspaces {
		if !filepath.IsAbs(w) || filepath.Clean(w) != w {
			return fmt.Errorf("workspace limit root %q must be an absolute, clean path", w)
		}
		if n < 1 {
			return fmt.Errorf("queue limit of workspace %q is %d; it must be at least 1", w, n)
		}
	}
	return nil
}

// providerLimit is the limit of one provider.
func (l Limits) providerLimit(p string) int {
	if n, ok := l.Providers[p]; ok {
		return n
	}
	return l.MaxPerProvider
}

// workspaceKey is the root whose limit a workspace counts against, or "".
func (l Limits) workspaceKey(ws string) string {
	best := ""
	for root := range l.Workspaces {
		if runs.PathWithin(ws, root) && len(root) > len(best) {
			best = root
		}
	}
	return best
}

// Policy is the time-related behaviour of the queue.
type Policy struct {
	// AgingHorizon is how long a waiting run takes to gain 20 priority
	// levels (from -10 to 10).
	AgingHorizon time.Duration
	// DefaultMaxRetries and DefaultBackoff apply when a request (and its
	// profile) leaves maxRetries or retryBackoffMs out.
	DefaultMaxRetries int
	DefaultBackoff    time.Duration
	// DefaultHold is how long a provider is held after a quota failure that
	// did not say when the quota resets; MaxHold bounds any hold.
	DefaultHold time.Duration
	MaxHold     time.Duration
	// ForgetAfter is how long a finished run is remembered (by id only) so
	// that a submit delivered again, or a late event, changes nothing. A
	// submit command is acknowledged once handled and only ever delivered
	// again while it is in hand, so a few minutes are plenty; the memory of
	// the scheduler then stays bounded however many runs it has seen.
	ForgetAfter time.Duration
	// DeadlineGrace is how long after an attempt's deadline the scheduler
	// waits for its runner to report the timeout before it fails the attempt
	// itself (a runner that vanished without being noticed, a dispatch that
	// no runner took).
	DeadlineGrace time.Duration
}

// Validate reports the first setting out of range.
func (p Policy) Validate() error {
	switch {
	case p.AgingHorizon < 20*time.Millisecond:
		return fmt.Errorf("queue AgingHorizon %s must be at least 20ms", p.AgingHorizon)
	case p.DefaultMaxRetries < 0 || p.DefaultMaxRetries > runs.MaxRetriesLimit:
		return fmt.Errorf("queue DefaultMaxRetries %d must be in 0..=%d", p.DefaultMaxRetries, runs.MaxRetriesLimit)
	case p.DefaultBackoff < runs.MinRetryBackoffMs*time.Millisecond || p.DefaultBackoff > runs.MaxRetryBackoffMs*time.Millisecond:
		return fmt.Errorf("queue DefaultBackoff %s must be in 100ms..=10m", p.DefaultBackoff)
	case p.DefaultHold <= 0 || p.MaxHold < p.DefaultHold:
		return fmt.Errorf("queue DefaultHold %s must be positive and at most MaxHold %s", p.DefaultHold, p.MaxHold)
	case p.DeadlineGrace <= 0:
		return fmt.Errorf("queue DeadlineGrace %s must be positive", p.DeadlineGrace)
	case p.ForgetAfter <= 0:
		return fmt.Errorf("queue ForgetAfter %s must be positive", p.ForgetAfter)
	}
	return nil
}

// DefaultPolicy is the policy with every default.
func DefaultPolicy() Policy {
	return Policy{
		AgingHorizon:      10 * time.Minute,
		DefaultMaxRetries: runs.DefaultMaxRetries,
		DefaultBackoff:    runs.DefaultRetryBackoffMs * time.Millisecond,
		DefaultHold:       time.Minute,
		MaxHold:           24 * time.Hour,
		DeadlineGrace:     time.Minute,
		ForgetAfter:       10 * time.Minute,
	}
}

// Phase is where a run is, as far as scheduling goes.
type Phase uint8

// Phases. An attempt moves forward only; a retry moves the run from
// PhaseRetryPending through PhaseBackoff back to PhaseQueued with the next
// attempt.
const (
	// PhaseRequested: run.requested seen, neither run.queued nor run.rejected yet.
	PhaseRequested Phase = iota + 1
	// PhaseQueued: waiting for a slot.
	PhaseQueued
	// PhaseDispatched: released to its pool, holds a slot, no runner has started it.
	PhaseDispatched
	// PhaseRunning: a runner started it (run.started); holds a slot.
	PhaseRunning
	// PhaseRetryPending: the attempt failed with Retryable set; the slot is
	// free and the scheduler has not decided the retry yet.
	PhaseRetryPending
	// PhaseBackoff: run.retry_scheduled; the next attempt is queued at NotBefore.
	PhaseBackoff
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
	case PhaseRetryPending:
		return "retry_pending"
	case PhaseBackoff:
		return "backoff"
	case PhaseFinished:
		return "finished"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// holdsSlot reports whether a run in this phase counts against the limits.
func (p Phase) holdsSlot() bool { return p == PhaseDispatched || p == PhaseRunning }

// waitsForRetry reports whether a run in this phase waits for its next attempt.
func (p Phase) waitsForRetry() bool { return p == PhaseRetryPending || p == PhaseBackoff }

// Failure is the retryable failure of an attempt, awaiting the retry decision.
type Failure struct {
	Reason   string
	Message  string
	ResetsAt *time.Time
	At       time.Time
}

// Run is what the queue knows of one run.
type Run struct {
	ID       string
	Spec     runs.Spec
	Provider string
	Pool     string
	Profile  string
	// Workspace is the workspace limit root the run counts against, or "".
	Workspace      string
	Priority       int
	ConversationID string
	Phase          Phase
	// Attempt is the attempt queued, dispatched, running or failed (0 while requested).
	Attempt int
	// RunnerID is the runner that started the current attempt.
	RunnerID string
	// QueuedAt is when the run first entered the queue (aging counts from it).
	QueuedAt time.Time
	// DispatchedAt is the time of the current attempt's run.dispatched.
	DispatchedAt time.Time
	// Deadline is the current attempt's deadline, if it has a timeout.
	Deadline *time.Time
	// NotBefore is when a retry in backoff is queued.
	NotBefore time.Time
	// RetryReason is why the run waits for a retry.
	RetryReason string
	// Retries counts the retries scheduled, quota holds excluded.
	Retries int
	// Failure is the retryable failure awaiting its retry decision.
	Failure *Failure
}

// MaxRetries is the run's retry budget under policy p.
func (r Run) MaxRetries(p Policy) int { return r.Spec.MaxRetriesOr(p.DefaultMaxRetries) }

// CancelRequest is who asked for a cancel and why.
type CancelRequest struct {
	Reason string
	By     string
}

type entry struct {
	Run
	// seq is the request order, the tie-break between equal keys.
	seq uint64
	// key orders the queue (see the package doc).
	key int64
	// cancel is a cancel waiting for run.started (dispatched) or for the
	// attempt's end (running). It is memory only: the caller keeps the cancel
	// command unacknowledged until it is done, so a restart does not lose it.
	cancel *CancelRequest
	// cancelSent: the cancel went to the runner of the current attempt.
	cancelSent bool
}

// Hold is a provider on hold.
type Hold struct {
	Provider   string
	Until      time.Time
	Reason     string
	RunID      string
	Attempt    int
	Message    string
	ResetKnown bool
}

// Queue is the scheduler's state. It is not safe for concurrent use: its
// owner serializes calls.
type Queue struct {
	limits Limits
	policy Policy
	step   int64
	runs   map[string]*entry
	nextSq uint64
	// undecided are runs in PhaseRequested, in request order.
	undecided []*entry
	// queued are runs in PhaseQueued, sorted by (key, seq).
	queued []*entry
	// retrying counts runs in PhaseRetryPending or PhaseBackoff.
	retrying    int
	active      int
	perProvider map[string]int
	perProfile  map[string]int
	perSpace    map[string]int
	// profiles are the profiles' concurrency limits (profile.saved).
	profiles map[string]int
	holds    map[string]Hold
	// done remembers finished runs (id -> when) until Prune forgets them;
	// doneOrder is the same in finishing order, so Prune stops early.
	done      map[string]time.Time
	doneOrder []finished
}

type finished struct {
	id string
	at time.Time
}

// New returns an empty queue (the caller has validated limits and policy).
func New(limits Limits, policy Policy) *Queue {
	return &Queue{
		limits: limits, policy: policy, step: max(int64(policy.AgingHorizon/20), 1),
		runs: map[string]*entry{}, perProvider: map[string]int{}, perProfile: map[string]int{}, perSpace: map[string]int{},
		profiles: map[string]int{}, holds: map[string]Hold{}, done: map[string]time.Time{},
	}
}

// Limits returns the limits in force.
func (q *Queue) Limits() Limits { return q.limits }

// Policy returns the policy in force.
func (q *Queue) Policy() Policy { return q.policy }

// ProfileLimits returns the profiles' concurrency limits.
func (q *Queue) ProfileLimits() map[string]int {
	out := make(map[string]int, len(q.profiles))
	for k, v := range q.profiles {
		out[k] = v
	}
	return out
}

// Get returns what the queue knows of a run; a finished run is known (in
// PhaseFinished, with its id only) until Prune forgets it.
func (q *Queue) Get(runID string) (Run, bool) {
	e, ok := q.runs[runID]
	if !ok {
		if _, done := q.done[runID]; done {
			return Run{ID: runID, Phase: PhaseFinished}, true
		}
		return Run{}, false
	}
	return e.Run, true
}

// Prune forgets the runs finished before now - ForgetAfter (in finishing
// order: a run that finished out of time order is forgotten with the runs
// after it).
func (q *Queue) Prune(now time.Time) int {
	cut := now.Add(-q.policy.ForgetAfter)
	n := 0
	for n < len(q.doneOrder) && q.doneOrder[n].at.Before(cut) {
		delete(q.done, q.doneOrder[n].id)
		n++
	}
	clear(q.doneOrder[:n])
	q.doneOrder = q.doneOrder[n:]
	return n
}

// Depth is the number of queued runs.
func (q *Queue) Depth() int { return len(q.queued) }

// Pending is the number of runs waiting: queued or waiting for a retry.
func (q *Queue) Pending() int { return len(q.queued) + q.retrying }

// Active is the number of runs dispatched or running.
func (q *Queue) Active() int { return q.active }

// ActiveFor is the number of runs of provider dispatched or running.
func (q *Queue) ActiveFor(provider string) int { return q.perProvider[provider] }

// HoldOf returns a provider's hold, if it has one (expired or not).
func (q *Queue) HoldOf(provider string) (Hold, bool) {
	h, ok := q.holds[provider]
	return h, ok
}

// Holds returns every hold recorded and not released, by provider.
func (q *Queue) Holds() map[string]Hold {
	out := make(map[string]Hold, len(q.holds))
	for k, v := range q.holds {
		out[k] = v
	}
	return out
}

// held reports whether provider is on hold at now.
func (q *Queue) held(provider string, now time.Time) (Hold, bool) {
	h, ok := q.holds[provider]
	return h, ok && now.Before(h.Until)
}

// Apply changes the state from one event (a payload as events.Decode returns
// it, a pointer) appended at time at (its ce-time). It reports whether
// anything changed; an event already reflected, of a stale attempt, of an
// unknown run or of a type the scheduler does not track changes nothing.
func (q *Queue) Apply(p events.Payload, at time.Time) bool {
	switch e := p.(type) {
	case *events.RunRequested:
		return q.requested(e)
	case *events.RunQueued:
		return q.queuedEv(e, at)
	case *events.RunRejected:
		r, ok := q.runs[e.RunID]
		if !ok || r.Phase != PhaseRequested {
			return false
		}
		q.finish(r, at)
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
		return q.ended(e.RunID, e.Attempt, at)
	case *events.RunCanceled:
		return q.ended(e.RunID, e.Attempt, at)
	case *events.RunFailed:
		if e.Retryable {
			return q.attemptFailed(e, at)
		}
		return q.ended(e.RunID, e.Attempt, at)
	case *events.RunRetryScheduled:
		return q.retryScheduled(e)
	case *events.ProviderHeld:
		return q.heldEv(e)
	case *events.ProviderReleased:
		h, ok := q.holds[e.Provider]
		if !ok || h.Until.After(e.Until) {
			// A longer hold came after the one released: it stays.
			return false
		}
		delete(q.holds, e.Provider)
		return true
	case *events.ProfileSaved:
		old, had := q.profiles[e.Name]
		if e.MaxConcurrent == nil {
			delete(q.profiles, e.Name)
			return had
		}
		q.profiles[e.Name] = *e.MaxConcurrent
		return !had || old != *e.MaxConcurrent
	}
	return false
}

func (q *Queue) requested(e *events.RunRequested) bool {
	if _, known := q.runs[e.RunID]; known {
		return false
	}
	if _, done := q.done[e.RunID]; done {
		return false
	}
	q.nextSq++
	r := &entry{seq: q.nextSq, Run: Run{
		ID:             e.RunID,
		Spec:           e.Spec,
		Provider:       e.Spec.ProviderOrAgent(),
		Pool:           e.Spec.PoolOrDefault(),
		Profile:        e.Spec.Profile,
		Workspace:      q.limits.workspaceKey(e.Spec.Workspace),
		Priority:       e.Spec.PriorityOrZero(),
		ConversationID: e.ConversationID,
		Phase:          PhaseRequested,
	}}
	q.runs[e.RunID] = r
	q.undecided = append(q.undecided, r)
	return true
}

func (q *Queue) queuedEv(e *events.RunQueued, at time.Time) bool {
	r, ok := q.runs[e.RunID]
	if !ok || e.Attempt <= r.Attempt {
		return false
	}
	switch {
	case r.Phase == PhaseRequested:
		q.undecided = remove(q.undecided, r)
	case r.Phase.waitsForRetry():
		q.retrying--
	default:
		return false
	}
	q.enqueue(r, e.Attempt, at)
	return true
}

func (q *Queue) enqueue(r *entry, attempt int, at time.Time) {
	if r.QueuedAt.IsZero() {
		r.QueuedAt = at
		r.key = at.UnixNano() - int64(r.Priority)*q.step
	}
	r.Phase = PhaseQueued
	r.Attempt = attempt
	r.RunnerID = ""
	r.DispatchedAt = time.Time{}
	r.Deadline = nil
	r.NotBefore = time.Time{}
	r.Failure = nil
	q.insert(r)
}

func (q *Queue) dispatched(e *events.RunDispatched, at time.Time) bool {
	r, ok := q.runs[e.RunID]
	if !ok || e.Attempt != r.Attempt && !(r.Phase == PhaseRequested && e.Attempt == 1) {
		return false
	}
	switch r.Phase {
	case PhaseQueued:
		q.unqueue(r)
	case PhaseRequested:
		// run.queued missing before it (it cannot be on one connection, but
		// a log is what it is): the dispatch says the run was queued.
		q.undecided = remove(q.undecided, r)
		if r.QueuedAt.IsZero() {
			r.QueuedAt = at
			r.key = at.UnixNano() - int64(r.Priority)*q.step
		}
		r.Attempt = e.Attempt
	default:
		return false
	}
	r.Phase = PhaseDispatched
	r.DispatchedAt = at
	r.Deadline = e.Deadline
	q.acquire(r)
	return true
}

// ended handles a terminal event of attempt: completed, canceled, failed for good.
//
// An attempt that failed retryably is abandoned: while the run waits for its
// retry, an end of that attempt (a runner that comes back and reports what it
// was doing) changes nothing, and only the scheduler ends the run, with an
// event of the next attempt (RetryCancel, a cancel in the queue, a run out of
// retries). So the outcome does not depend on whether such a late event is
// stored before or after the scheduler's retry: a replay of the log agrees
// with the live scheduler whatever the interleaving.
func (q *Queue) ended(runID string, attempt int, at time.Time) bool {
	r, ok := q.runs[runID]
	if !ok || attempt < r.Attempt || r.Phase.waitsForRetry() && attempt == r.Attempt {
		return false
	}
	q.finish(r, at)
	return true
}

func (q *Queue) attemptFailed(e *events.RunFailed, at time.Time) bool {
	r, ok := q.runs[e.RunID]
	if !ok || !r.Phase.holdsSlot() || e.Attempt != r.Attempt {
		return false
	}
	q.release(r)
	r.Phase = PhaseRetryPending
	q.retrying++
	r.Failure = &Failure{Reason: e.Reason, Message: e.Message, ResetsAt: e.ResetsAt, At: at}
	// A cancel waiting for this attempt's start or end stays: the retry
	// decision turns into the cancel (never a retry after a cancel).
	r.cancelSent = false
	return true
}

func (q *Queue) retryScheduled(e *events.RunRetryScheduled) bool {
	r, ok := q.runs[e.RunID]
	if !ok || r.Phase != PhaseRetryPending || e.Attempt != r.Attempt {
		return false
	}
	r.Phase = PhaseBackoff
	r.NotBefore = e.NotBefore
	r.RetryReason = e.Reason
	if !runs.HoldReason(e.Reason) {
		r.Retries++
	}
	return true
}

func (q *Queue) heldEv(e *events.ProviderHeld) bool {
	if h, ok := q.holds[e.Provider]; ok && !e.Until.After(h.Until) {
		return false
	}
	q.holds[e.Provider] = Hold{Provider: e.Provider, Until: e.Until, Reason: e.Reason, RunID: e.RunID,
		Attempt: e.Attempt, Message: e.Message, ResetKnown: e.ResetKnown}
	return true
}

// finish ends a run: it leaves every list and the map, and is remembered
// by id only.
func (q *Queue) finish(r *entry, at time.Time) {
	switch {
	case r.Phase == PhaseRequested:
		q.undecided = remove(q.undecided, r)
	case r.Phase == PhaseQueued:
		q.unqueue(r)
	case r.Phase.holdsSlot():
		q.release(r)
	case r.Phase.waitsForRetry():
		q.retrying--
	}
	r.Phase = PhaseFinished
	r.cancel, r.cancelSent = nil, false
	delete(q.runs, r.ID)
	q.done[r.ID] = at
	q.doneOrder = append(q.doneOrder, finished{id: r.ID, at: at})
}

func (q *Queue) acquire(r *entry) {
	q.active++
	q.perProvider[r.Provider]++
	if r.Profile != "" {
		q.perProfile[r.Profile]++
	}
	if r.Workspace != "" {
		q.perSpace[r.Workspace]++
	}
}

func (q *Queue) release(r *entry) {
	q.active--
	dec(q.perProvider, r.Provider)
	if r.Profile != "" {
		dec(q.perProfile, r.Profile)
	}
	if r.Workspace != "" {
		dec(q.perSpace, r.Workspace)
	}
}

func dec(m map[string]int, k string) {
	if n := m[k] - 1; n > 0 {
		m[k] = n
	} else {
		delete(m, k)
	}
}

func remove(list []*entry, r *entry) []*entry {
	for i, e := range list {
		if e == r {
			return append(list[:i], list[i+1:]...)
		}
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
