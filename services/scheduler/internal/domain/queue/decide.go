package queue

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// Rejection is why a run is not queued: a stable reason code (runs.Reason*),
// a message for people and, for an invalid request, the offending field (its
// JSON path in the run request).
type Rejection struct {
	Reason  string
	Field   string
	Message string
}

// Validate checks a run request again, whatever the gateway checked, with
// the validator the gateway uses (runs.Validate): the scheduler is the last
// line before a run is released, and commands can be published by any
// client of the bus. It returns nil for a valid spec.
func Validate(s runs.Spec) *Rejection {
	if err := runs.Validate(s, runs.Limits{}); err != nil {
		return &Rejection{Reason: err.Reason, Field: err.Field, Message: err.Message}
	}
	return nil
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

// Decide says whether an undecided run is queued at now or rejected: an
// invalid request is rejected with invalid_request, a full queue with
// queue_full. extra counts runs the caller has decided to queue and not yet
// applied (they take capacity). It reports false when the run is not
// awaiting a decision.
func (q *Queue) Decide(runID string, now time.Time, extra int) (Decision, bool) {
	r, ok := q.runs[runID]
	if !ok || r.Phase != PhaseRequested {
		return Decision{}, false
	}
	d := Decision{RunID: runID}
	if rej := Validate(r.Spec); rej != nil {
		d.Rejection = rej
		return d, true
	}
	if q.Pending()+extra >= q.limits.Capacity {
		d.Rejection = &Rejection{
			Reason:  runs.ReasonQueueFull,
			Message: fmt.Sprintf("the queue holds %d waiting runs, its capacity", q.limits.Capacity),
		}
		return d, true
	}
	d.Attempt = 1
	key := q.Key(now, r.Priority)
	d.Position = 1 + sort.Search(len(q.queued), func(i int) bool { return q.queued[i].key > key })
	d.Priority, d.Provider, d.Pool = r.Priority, r.Provider, r.Pool
	return d, true
}

// Dispatch is one attempt of a run to release to its pool.
type Dispatch struct {
	RunID          string
	Attempt        int
	Spec           runs.Spec
	Pool           string
	Provider       string
	ConversationID string
	// Deadline is when the attempt times out, when the run has a timeout.
	Deadline *time.Time
	// RetriesLeft is how many further attempts a retryable failure may get.
	RetriesLeft int
	// DispatchedAt is set for an attempt already dispatched (see AwaitingRunner).
	DispatchedAt time.Time
}

// counts tallies the slots taken in one walk over the queue.
type counts struct {
	provider, profile, space map[string]int
	// closed are providers found held or full in this walk: counts only
	// grow during a walk, so they stay so (most of a long queue is skipped
	// with one lookup).
	closed map[string]string
}

func (q *Queue) newCounts() counts {
	return counts{provider: map[string]int{}, profile: map[string]int{}, space: map[string]int{}, closed: map[string]string{}}
}

// blocked says which limit keeps r from a slot now, given the slots c
// already taken in this walk ("" when none does).
func (q *Queue) blocked(r *entry, c counts, now time.Time) string {
	if why, ok := c.closed[r.Provider]; ok {
		return why
	}
	if _, on := q.held(r.Provider, now); on {
		c.closed[r.Provider] = rpc.WaitProviderHold
		return rpc.WaitProviderHold
	}
	if q.perProvider[r.Provider]+c.provider[r.Provider] >= q.limits.providerLimit(r.Provider) {
		c.closed[r.Provider] = rpc.WaitProviderLimit
		return rpc.WaitProviderLimit
	}
	if r.Profile != "" {
		if lim, ok := q.profiles[r.Profile]; ok && q.perProfile[r.Profile]+c.profile[r.Profile] >= lim {
			return rpc.WaitProfileLimit
		}
	}
	if r.Workspace != "" && q.perSpace[r.Workspace]+c.space[r.Workspace] >= q.limits.Workspaces[r.Workspace] {
		return rpc.WaitWorkspaceLimit
	}
	return ""
}

func (c counts) take(r *entry) {
	c.provider[r.Provider]++
	if r.Profile != "" {
		c.profile[r.Profile]++
	}
	if r.Workspace != "" {
		c.space[r.Workspace]++
	}
}

// NextDispatches returns the runs to dispatch at now, in order, within the
// limits: the queue is walked in key order and every run that fits every
// limit takes a slot, until the free global slots are gone. A deadline is
// now plus the run's timeout.
func (q *Queue) NextDispatches(now time.Time) []Dispatch {
	free := q.limits.MaxRunning - q.active
	if free <= 0 || len(q.queued) == 0 {
		return nil
	}
	var out []Dispatch
	c := q.newCounts()
	for _, r := range q.queued {
		if len(out) == free {
			break
		}
		if q.blocked(r, c, now) != "" {
			continue
		}
		c.take(r)
		out = append(out, q.dispatchOf(r, deadline(r.Spec, now)))
	}
	return out
}

func (q *Queue) dispatchOf(r *entry, dl *time.Time) Dispatch {
	return Dispatch{
		RunID: r.ID, Attempt: r.Attempt, Spec: r.Spec, Pool: r.Pool, Provider: r.Provider, ConversationID: r.ConversationID,
		Deadline: dl, RetriesLeft: max(r.MaxRetries(q.policy)-r.Retries, 0), DispatchedAt: r.DispatchedAt,
	}
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
			out = append(out, q.dispatchOf(r, r.Deadline))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if c := out[i].DispatchedAt.Compare(out[j].DispatchedAt); c != 0 {
			return c < 0
		}
		return out[i].RunID < out[j].RunID
	})
	return out
}

// RunningOn lists the attempts a runner started and has not ended, by run id.
func (q *Queue) RunningOn(runnerID string) []Run {
	var out []Run
	for _, r := range q.runs {
		if r.Phase == PhaseRunning && r.RunnerID == runnerID {
			out = append(out, r.Run)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Runners lists the runners holding a started attempt, sorted.
func (q *Queue) Runners() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range q.runs {
		if r.Phase == PhaseRunning && r.RunnerID != "" && !seen[r.RunnerID] {
			seen[r.RunnerID] = true
			out = append(out, r.RunnerID)
		}
	}
	sort.Strings(out)
	return out
}

// Jobs describes every pending run at now, in dispatch order: the queued
// runs in key order, each with why it waits as the next decision would see
// it, then the runs waiting for a retry by the end of their backoff, then
// the runs not decided yet. Filters: pool and provider when not empty.
func (q *Queue) Jobs(now time.Time, pool, provider string) []rpc.QueueJob {
	match := func(r *entry) bool {
		return (pool == "" || r.Pool == pool) && (provider == "" || r.Provider == provider)
	}
	out := make([]rpc.QueueJob, 0, len(q.queued)+q.retrying)
	free := q.limits.MaxRunning - q.active
	c := q.newCounts()
	for _, r := range q.queued {
		why := q.blocked(r, c, now)
		if why == "" {
			if free > 0 {
				free--
				c.take(r)
				why = rpc.WaitNext
			} else {
				why = rpc.WaitGlobalLimit
			}
		}
		if match(r) {
			out = append(out, q.job(r, now, why))
		}
	}
	var waiting []*entry
	for _, r := range q.runs {
		if r.Phase.waitsForRetry() && match(r) {
			waiting = append(waiting, r)
		}
	}
	sort.Slice(waiting, func(i, j int) bool {
		if c := waiting[i].NotBefore.Compare(waiting[j].NotBefore); c != 0 {
			return c < 0
		}
		return waiting[i].seq < waiting[j].seq
	})
	for _, r := range waiting {
		j := q.job(r, now, rpc.WaitBackoff)
		if r.Phase == PhaseBackoff {
			nb := r.NotBefore
			j.NotBefore = &nb
		}
		out = append(out, j)
	}
	for _, r := range q.undecided {
		if match(r) {
			out = append(out, q.job(r, now, rpc.WaitDecision))
		}
	}
	for i := range out {
		out[i].Position = i + 1
	}
	return out
}

func (q *Queue) job(r *entry, now time.Time, why string) rpc.QueueJob {
	j := rpc.QueueJob{
		RunID: r.ID, Attempt: r.Attempt, Agent: r.Spec.Agent, Provider: r.Provider, Pool: r.Pool, Profile: r.Profile,
		Workspace: r.Spec.Workspace, Priority: r.Priority, Waiting: why,
	}
	since := r.QueuedAt
	if since.IsZero() {
		since = now
	}
	j.QueuedAt = since.UTC()
	j.WaitMs = max(now.Sub(since).Milliseconds(), 0)
	j.EffectivePriority = float64(int64(q.EffectivePriority(r.Priority, since, now)*100)) / 100
	if h, on := q.held(r.Provider, now); on {
		until := h.Until
		j.HoldUntil = &until
	}
	return j
}

// Keys lists the workspace limit roots, sorted (for people).
func (l Limits) Keys() []string {
	out := make([]string, 0, len(l.Workspaces))
	for k := range l.Workspaces {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// String describes the limits in one line (logs).
func (l Limits) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "max_running=%d max_per_provider=%d capacity=%d", l.MaxRunning, l.MaxPerProvider, l.Capacity)
	for _, p := range sortedKeys(l.Providers) {
		fmt.Fprintf(&b, " provider:%s=%d", p, l.Providers[p])
	}
	for _, w := range l.Keys() {
		fmt.Fprintf(&b, " workspace:%s=%d", w, l.Workspaces[w])
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
