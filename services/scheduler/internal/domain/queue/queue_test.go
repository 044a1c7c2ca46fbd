package queue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func intp(i int) *int { return &i }

func spec(agent string) runs.Spec { return runs.Spec{Agent: agent, Prompt: "p", Workspace: "/w"} }

func newQ(l queue.Limits) *queue.Queue { return queue.New(l, queue.DefaultPolicy()) }

// submit applies what the scheduler appends for a valid submit at time at:
// requested, then queued (or rejected) as Decide says.
func submitAt(t *testing.T, q *queue.Queue, id string, s runs.Spec, at time.Time) queue.Decision {
	t.Helper()
	require.True(t, q.Apply(&events.RunRequested{RunID: id, Spec: s}, at))
	d, ok := q.Decide(id, at, 0)
	require.True(t, ok)
	if d.Rejection == nil {
		require.True(t, q.Apply(&events.RunQueued{RunID: id, Attempt: d.Attempt, Position: d.Position}, at))
	} else {
		require.True(t, q.Apply(&events.RunRejected{RunID: id, Reason: d.Rejection.Reason}, at))
	}
	return d
}

func submit(t *testing.T, q *queue.Queue, id string, s runs.Spec) queue.Decision {
	t.Helper()
	return submitAt(t, q, id, s, t0)
}

// dispatchAllAt applies run.dispatched for every decision NextDispatches
// makes at now and returns the run ids in order.
func dispatchAllAt(q *queue.Queue, now time.Time) []string {
	var ids []string
	for _, d := range q.NextDispatches(now) {
		q.Apply(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt, Pool: d.Pool, Provider: d.Provider, Deadline: d.Deadline}, now)
		ids = append(ids, d.RunID)
	}
	return ids
}

func dispatchAll(q *queue.Queue) []string { return dispatchAllAt(q, t0) }

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		l    queue.Limits
		want string
	}{
		{queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 512}, ""},
		{queue.Limits{MaxRunning: 0, MaxPerProvider: 1, Capacity: 1}, "queue limit MaxRunning 0 must be at least 1"},
		{queue.Limits{MaxRunning: 1, MaxPerProvider: -1, Capacity: 1}, "queue limit MaxPerProvider -1 must be at least 1"},
		{queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 0}, "queue limit Capacity 0 must be at least 1"},
		{queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 1, Providers: map[string]int{"x": 0}}, `queue limit of provider "x" is 0; it must be at least 1`},
		{queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 1, Workspaces: map[string]int{"rel": 1}}, `workspace limit root "rel" must be an absolute, clean path`},
	} {
		err := tc.l.Validate()
		if tc.want == "" {
			require.NoError(t, err)
		} else {
			require.EqualError(t, err, tc.want)
		}
	}
	require.NoError(t, queue.DefaultPolicy().Validate())
	p := queue.DefaultPolicy()
	p.AgingHorizon = 0
	require.ErrorContains(t, p.Validate(), "AgingHorizon")
}

func TestValidateUsesTheSharedValidator(t *testing.T) {
	t.Parallel()
	s := spec("claude")
	require.Nil(t, queue.Validate(s))
	s.Priority = intp(11)
	rej := queue.Validate(s)
	require.Equal(t, &queue.Rejection{Reason: runs.ReasonInvalidRequest, Field: "priority", Message: "priority must be an integer in -10..=10, got 11"}, rej)
	s = spec("claude")
	s.Harness = &runs.Harness{TimeoutMs: intp(1)}
	require.Equal(t, "harness.timeoutMs", queue.Validate(s).Field)
}

func TestLimits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		limits queue.Limits
		agents []string
		want   []string // dispatched run ids, in order
	}{
		{"global 2, one provider at 1", queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10},
			[]string{"a", "a", "a"}, []string{"r0"}},
		{"global 2, two providers", queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10},
			[]string{"a", "a", "b", "b"}, []string{"r0", "r2"}},
		{"global caps providers", queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10},
			[]string{"a", "b", "c"}, []string{"r0", "r1"}},
		{"per provider 2", queue.Limits{MaxRunning: 3, MaxPerProvider: 2, Capacity: 10},
			[]string{"a", "a", "a", "b"}, []string{"r0", "r1", "r3"}},
		{"global 1", queue.Limits{MaxRunning: 1, MaxPerProvider: 5, Capacity: 10},
			[]string{"a", "b"}, []string{"r0"}},
		{"provider override", queue.Limits{MaxRunning: 5, MaxPerProvider: 1, Capacity: 10, Providers: map[string]int{"a": 3}},
			[]string{"a", "a", "a", "a", "b", "b"}, []string{"r0", "r1", "r2", "r4"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := newQ(tc.limits)
			for i, a := range tc.agents {
				submit(t, q, fmt.Sprintf("r%d", i), spec(a))
			}
			require.Equal(t, tc.want, dispatchAll(q))
			require.Equal(t, len(tc.want), q.Active())
			require.Equal(t, len(tc.agents)-len(tc.want), q.Depth())
			require.Empty(t, q.NextDispatches(t0), "nothing more fits")
		})
	}
}

func TestProfileAndWorkspaceLimits(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 10, MaxPerProvider: 10, Capacity: 20, Workspaces: map[string]int{"/src": 2, "/src/big": 1}})
	require.True(t, q.Apply(&events.ProfileSaved{Name: "nightly", MaxConcurrent: intp(1)}, t0))
	require.False(t, q.Apply(&events.ProfileSaved{Name: "nightly", MaxConcurrent: intp(1)}, t0), "same limit again")
	with := func(ws, profile string) runs.Spec {
		s := spec("a")
		s.Workspace, s.Profile = ws, profile
		return s
	}
	submit(t, q, "n1", with("/w", "nightly"))
	submit(t, q, "n2", with("/w", "nightly"))
	submit(t, q, "big1", with("/src/big/app", ""))
	submit(t, q, "big2", with("/src/big", ""))
	submit(t, q, "src1", with("/src/a", ""))
	submit(t, q, "src2", with("/src/b", ""))
	submit(t, q, "free", with("/srcx", ""))
	// n2: profile at 1; big2: /src/big at 1; src2: /src at 2 (big1 counts
	// against /src/big only, its longest root).
	require.Equal(t, []string{"n1", "big1", "src1", "src2", "free"}, dispatchAll(q))
	jobs := q.Jobs(t0, "", "")
	require.Len(t, jobs, 2)
	require.Equal(t, "n2", jobs[0].RunID)
	require.Equal(t, rpc.WaitProfileLimit, jobs[0].Waiting)
	require.Equal(t, "big2", jobs[1].RunID)
	require.Equal(t, rpc.WaitWorkspaceLimit, jobs[1].Waiting)

	// Raising the profile's limit lets n2 go.
	require.True(t, q.Apply(&events.ProfileSaved{Name: "nightly", MaxConcurrent: intp(2)}, t0))
	require.Equal(t, []string{"n2"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunCompleted{RunID: "big1", Attempt: 1}, t0))
	require.Equal(t, []string{"big2"}, dispatchAll(q))
}

func TestPriorityThenRequestOrder(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	with := func(p int) runs.Spec { s := spec("a"); s.Priority = intp(p); return s }
	submit(t, q, "low", with(-5))
	submit(t, q, "mid1", with(0))
	d := submit(t, q, "high", with(7))
	require.Equal(t, 1, d.Position, "the highest priority goes first")
	submit(t, q, "mid2", with(0))
	var order []string
	for range 4 {
		ids := dispatchAll(q)
		require.Len(t, ids, 1)
		order = append(order, ids[0])
		require.True(t, q.Apply(&events.RunCompleted{RunID: ids[0], Attempt: 1}, t0))
	}
	require.Equal(t, []string{"high", "mid1", "mid2", "low"}, order)
}

func TestAgingLetsALowPriorityOvertakeNewerHighOnes(t *testing.T) {
	t.Parallel()
	p := queue.DefaultPolicy()
	p.AgingHorizon = 20 * time.Minute // one level per minute
	q := queue.New(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 100}, p)
	with := func(pr int) runs.Spec { s := spec("a"); s.Priority = intp(pr); return s }
	submitAt(t, q, "old-low", with(-10), t0)
	// A +10 run queued within the horizon still goes first ...
	submitAt(t, q, "high-early", with(10), t0.Add(19*time.Minute))
	// ... one queued after the horizon goes after the old -10 run.
	submitAt(t, q, "high-late", with(10), t0.Add(21*time.Minute))
	now := t0.Add(21 * time.Minute)
	jobs := q.Jobs(now, "", "")
	require.Equal(t, []string{"high-early", "old-low", "high-late"}, []string{jobs[0].RunID, jobs[1].RunID, jobs[2].RunID})
	require.InDelta(t, 11.0, jobs[1].EffectivePriority, 0.01, "-10 + 21 levels")
	require.InDelta(t, 12.0, jobs[0].EffectivePriority, 0.01)
	require.InDelta(t, 10.0, jobs[2].EffectivePriority, 0.01)
	require.Equal(t, (21 * time.Minute).Milliseconds(), jobs[1].WaitMs)
	require.Equal(t, rpc.WaitNext, jobs[0].Waiting)
	require.Equal(t, rpc.WaitProviderLimit, jobs[1].Waiting)
}

func TestFIFOAndCompletionsReleaseInOrder(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	agents := []string{"a", "a", "b", "a", "b"}
	for i, a := range agents {
		d := submitAt(t, q, fmt.Sprintf("r%d", i), spec(a), t0.Add(time.Duration(i)*time.Millisecond))
		require.Equal(t, i+1, d.Position, "position counts the queued runs")
	}
	require.Equal(t, []string{"r0", "r2"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunStarted{RunID: "r2", Attempt: 1, RunnerID: "w1"}, t0))
	require.True(t, q.Apply(&events.RunCompleted{RunID: "r2", Attempt: 1}, t0))
	require.Equal(t, []string{"r4"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonAgentError}, t0))
	require.Equal(t, []string{"r1"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunCanceled{RunID: "r1", Attempt: 1}, t0))
	require.Equal(t, []string{"r3"}, dispatchAll(q))
	require.Equal(t, 0, q.Depth())
	require.Equal(t, 2, q.Active())
}

func TestCapacityCountsRunsWaitingForARetry(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 3})
	for i := range 3 {
		d := submit(t, q, fmt.Sprintf("r%d", i), spec("a"))
		require.Nil(t, d.Rejection)
	}
	d := submit(t, q, "r3", spec("a"))
	require.Equal(t, runs.ReasonQueueFull, d.Rejection.Reason)
	require.Empty(t, d.Rejection.Field)
	require.Equal(t, 3, q.Depth())
	r, ok := q.Get("r3")
	require.True(t, ok)
	require.Equal(t, queue.PhaseFinished, r.Phase)

	require.Equal(t, []string{"r0"}, dispatchAll(q))
	d = submit(t, q, "r4", spec("a"))
	require.Nil(t, d.Rejection)
	require.Equal(t, 3, d.Position)
	// r0 fails retryably: it waits again, the queue is full, and the retry
	// itself is never refused.
	require.True(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonSpawnFailed, Retryable: true}, t0))
	require.Equal(t, 4, q.Pending())
	d = submit(t, q, "r5", spec("a"))
	require.Equal(t, runs.ReasonQueueFull, d.Rejection.Reason)
	_, ok = q.Decide("r5", t0, 0)
	require.False(t, ok, "decided already")
	// Decide counts the runs a caller decided but did not apply yet.
	require.True(t, q.Apply(&events.RunCanceled{RunID: "r4", Attempt: 1}, t0))
	require.True(t, q.Apply(&events.RunRequested{RunID: "r6", Spec: spec("a")}, t0))
	d, _ = q.Decide("r6", t0, 1)
	require.NotNil(t, d.Rejection)
}

func TestDeadlineAndRetriesLeft(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	s := spec("a")
	s.TimeoutSeconds = intp(60)
	s.MaxRetries = intp(5)
	submit(t, q, "r0", s)
	require.True(t, q.Apply(&events.RunRequested{RunID: "r1", Spec: spec("b"), ConversationID: "c-1"}, t0))
	d, _ := q.Decide("r1", t0, 0)
	require.True(t, q.Apply(&events.RunQueued{RunID: "r1", Attempt: 1, Position: d.Position}, t0))
	ds := q.NextDispatches(t0)
	require.Len(t, ds, 2)
	require.Equal(t, t0.Add(time.Minute), *ds[0].Deadline)
	require.Equal(t, 5, ds[0].RetriesLeft)
	require.Nil(t, ds[1].Deadline)
	require.Equal(t, runs.DefaultMaxRetries, ds[1].RetriesLeft)
	require.Equal(t, "c-1", ds[1].ConversationID)
	require.Equal(t, runs.DefaultPool, ds[0].Pool)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	submit(t, q, "running", spec("a"))
	submit(t, q, "dispatched", spec("b"))
	submit(t, q, "queued", spec("a"))
	submit(t, q, "done", spec("c"))
	require.Equal(t, []string{"running", "dispatched"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunStarted{RunID: "running", Attempt: 1, RunnerID: "w1"}, t0))
	require.True(t, q.Apply(&events.RunCanceled{RunID: "done", Attempt: 1}, t0))
	require.True(t, q.Apply(&events.RunRequested{RunID: "undecided", Spec: spec("a")}, t0))
	req := queue.CancelRequest{Reason: "user", By: "me"}

	for _, tc := range []struct {
		run    string
		action queue.CancelAction
		runner string
		known  bool
	}{
		{"queued", queue.CancelInQueue, "", true},
		{"undecided", queue.CancelInQueue, "", true},
		{"running", queue.CancelOnRunner, "w1", true},
		{"dispatched", queue.CancelWhenStarted, "", true},
		{"done", queue.CancelNothing, "", true},
		{"nobody", queue.CancelNothing, "", false},
	} {
		d := q.Cancel(tc.run, req)
		require.Equal(t, tc.action, d.Action, tc.run)
		require.Equal(t, tc.runner, d.RunnerID, tc.run)
		require.Equal(t, tc.known, d.Known, tc.run)
		require.Equal(t, req, d.CancelRequest, tc.run)
	}
	// Sent once to the runner, a cancel then waits for the run's end.
	q.CancelSent("running", 1)
	require.Equal(t, queue.CancelAwaitingEnd, q.Cancel("running", req).Action)

	require.True(t, q.Apply(&events.RunCanceled{RunID: "queued", Attempt: 1}, t0))
	require.True(t, q.Apply(&events.RunCompleted{RunID: "running", Attempt: 1}, t0))
	require.Empty(t, q.NextDispatches(t0))
	require.Equal(t, 0, q.Depth())

	// The remembered cancel comes due when the run starts.
	_, due := q.CancelDue("dispatched")
	require.False(t, due, "not started yet")
	require.True(t, q.Apply(&events.RunStarted{RunID: "dispatched", Attempt: 1, RunnerID: "w2"}, t0))
	d, due := q.CancelDue("dispatched")
	require.True(t, due)
	require.Equal(t, queue.CancelDecision{Action: queue.CancelOnRunner, RunID: "dispatched", Attempt: 1, RunnerID: "w2", Known: true, Phase: queue.PhaseRunning, CancelRequest: req}, d)
	q.CancelSent("dispatched", 1)
	_, due = q.CancelDue("dispatched")
	require.False(t, due)
	require.Equal(t, 1, q.Active(), "the slot is held until the runner reports the end")
	require.True(t, q.Apply(&events.RunCanceled{RunID: "dispatched", Attempt: 1}, t0))
	require.Equal(t, 0, q.Active())
}

func TestACanceledRunIsNeverRetried(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	submit(t, q, "r", spec("a"))
	dispatchAll(q)
	require.True(t, q.Apply(&events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w"}, t0))
	require.Equal(t, queue.CancelOnRunner, q.Cancel("r", queue.CancelRequest{By: "me"}).Action)
	q.CancelSent("r", 1)
	// The attempt fails retryably as the cancel arrives: no retry.
	require.True(t, q.Apply(&events.RunFailed{RunID: "r", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}, t0))
	ds := q.Retries(t0)
	require.Len(t, ds, 1)
	require.Equal(t, queue.RetryCancel, ds[0].Action)
	require.Equal(t, "me", ds[0].Cancel.By)
}

func TestRetriesBackOffAndRunOut(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	s := spec("a")
	s.MaxRetries = intp(2)
	s.RetryBackoffMs = intp(1000)
	submit(t, q, "r", s)
	submit(t, q, "other", spec("a"))
	now := t0
	var backoffs []time.Duration
	for attempt := 1; attempt <= 3; attempt++ {
		require.Equal(t, []string{"r"}, dispatchAllAt(q, now), "attempt %d goes before the newer run", attempt)
		require.True(t, q.Apply(&events.RunStarted{RunID: "r", Attempt: attempt, RunnerID: "w"}, now))
		require.True(t, q.Apply(&events.RunFailed{RunID: "r", Attempt: attempt, Reason: runs.ReasonRunnerLost, Retryable: true}, now))
		ds := q.Retries(now)
		require.Len(t, ds, 1)
		d := ds[0]
		if attempt == 3 {
			require.Equal(t, queue.RetryGiveUp, d.Action)
			require.Contains(t, d.Message, "no retry left: 2 of 2 used")
			break
		}
		require.Equal(t, queue.RetrySchedule, d.Action)
		require.Equal(t, attempt+1, d.NextAttempt)
		require.Nil(t, d.Hold)
		backoffs = append(backoffs, d.Backoff)
		require.Equal(t, now.Add(d.Backoff), d.NotBefore)
		require.True(t, q.Apply(&events.RunRetryScheduled{RunID: "r", Attempt: attempt, NextAttempt: attempt + 1, NotBefore: d.NotBefore, Reason: d.Reason}, now))
		require.Empty(t, q.DueRequeues(d.NotBefore.Add(-time.Millisecond)))
		require.Equal(t, d.NotBefore, q.NextWake(now))
		jobs := q.Jobs(now, "", "")
		require.Equal(t, rpc.WaitBackoff, jobs[len(jobs)-1].Waiting)
		// Meanwhile the slot is free for the others.
		for _, id := range dispatchAllAt(q, now) {
			if attempt == 1 {
				require.Equal(t, "other", id)
			}
			require.True(t, q.Apply(&events.RunCompleted{RunID: id, Attempt: 1}, now))
		}
		if attempt == 1 {
			require.True(t, q.Apply(&events.RunRequested{RunID: "other2", Spec: spec("a")}, now))
			dd, _ := q.Decide("other2", now, 0)
			require.True(t, q.Apply(&events.RunQueued{RunID: "other2", Attempt: 1, Position: dd.Position}, now))
		}
		now = d.NotBefore
		rq := q.DueRequeues(now)
		require.Equal(t, []queue.Requeue{{RunID: "r", NextAttempt: attempt + 1, Position: 1}}, rq)
		require.True(t, q.Apply(&events.RunQueued{RunID: "r", Attempt: attempt + 1, Position: 1}, now))
		r, _ := q.Get("r")
		require.Equal(t, t0, r.QueuedAt, "a retry keeps its place in the order")
		if attempt == 1 {
			// Requeued ahead of other2, queued after it.
			require.Equal(t, "r", q.Snapshot().Queued[0].RunID)
		}
	}
	require.Len(t, backoffs, 2)
	// Exponential with equal jitter: retry n waits within [base*2^(n-1)/2, base*2^(n-1)].
	require.GreaterOrEqual(t, backoffs[0], 500*time.Millisecond)
	require.LessOrEqual(t, backoffs[0], time.Second)
	require.GreaterOrEqual(t, backoffs[1], time.Second)
	require.LessOrEqual(t, backoffs[1], 2*time.Second)
}

func TestBackoffStaysInRangeAndIsStable(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 1})
	s := spec("a")
	for _, base := range []int{100, 1000, 600000} {
		s.RetryBackoffMs = intp(base)
		for n := 1; n <= 10; n++ {
			d := q.Backoff(s, "run-x", n)
			require.GreaterOrEqual(t, d, 100*time.Millisecond)
			require.LessOrEqual(t, d, 600*time.Second)
			require.Equal(t, d, q.Backoff(s, "run-x", n), "the same on every instance")
		}
	}
	s.RetryBackoffMs = intp(100)
	seen := map[time.Duration]bool{}
	for i := range 20 {
		seen[q.Backoff(s, fmt.Sprintf("run-%d", i), 3)] = true
	}
	require.Greater(t, len(seen), 5, "jittered")
}

func TestTimeoutIsRetriedOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 2, Capacity: 10})
	yes := spec("a")
	yes.RetryOnTimeout = new(bool)
	*yes.RetryOnTimeout = true
	submit(t, q, "yes", yes)
	submit(t, q, "no", spec("a"))
	dispatchAll(q)
	for _, id := range []string{"yes", "no"} {
		require.True(t, q.Apply(&events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonTimeout, Retryable: true}, t0))
	}
	ds := q.Retries(t0)
	require.Equal(t, queue.RetrySchedule, ds[0].Action)
	require.Equal(t, queue.RetryGiveUp, ds[1].Action)
}

func TestQuotaFailureHoldsTheProviderAndRequeuesWithoutARetry(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 3, MaxPerProvider: 2, Capacity: 10})
	s := spec("claude")
	s.MaxRetries = intp(0)
	submit(t, q, "hit", s)
	submit(t, q, "c2", spec("claude"))
	submit(t, q, "c3", spec("claude"))
	submit(t, q, "x1", spec("codex"))
	require.Equal(t, []string{"hit", "c2", "x1"}, dispatchAll(q))
	resets := t0.Add(2 * time.Hour)
	require.True(t, q.Apply(&events.RunFailed{RunID: "hit", Attempt: 1, Reason: runs.ReasonUsageLimit, Message: "usage limit reached", ResetsAt: &resets, Retryable: true}, t0))
	ds := q.Retries(t0)
	require.Len(t, ds, 1)
	d := ds[0]
	require.Equal(t, queue.RetrySchedule, d.Action, "a hold re-queues even with no retry left")
	require.Equal(t, t0, d.NotBefore)
	require.Equal(t, &queue.Hold{Provider: "claude", Until: resets, Reason: runs.ReasonUsageLimit, RunID: "hit", Attempt: 1,
		Message: "usage limit reached", ResetKnown: true}, d.Hold)
	require.True(t, q.Apply(&events.ProviderHeld{Provider: "claude", Until: resets, Reason: runs.ReasonUsageLimit, RunID: "hit", Attempt: 1, ResetKnown: true}, t0))
	require.True(t, q.Apply(&events.RunRetryScheduled{RunID: "hit", Attempt: 1, NextAttempt: 2, NotBefore: t0, Reason: runs.ReasonUsageLimit}, t0))
	require.Equal(t, []queue.Requeue{{RunID: "hit", NextAttempt: 2, Position: 1}}, q.DueRequeues(t0))
	require.True(t, q.Apply(&events.RunQueued{RunID: "hit", Attempt: 2, Position: 1}, t0))
	r, _ := q.Get("hit")
	require.Equal(t, 0, r.Retries, "a hold is not a retry")

	// The slot is free but claude is held: its runs wait, codex is not held.
	require.Empty(t, dispatchAll(q))
	jobs := q.Jobs(t0.Add(time.Minute), "", "claude")
	require.Len(t, jobs, 2)
	for _, j := range jobs {
		require.Equal(t, rpc.WaitProviderHold, j.Waiting)
		require.Equal(t, resets, *j.HoldUntil)
	}
	require.Equal(t, resets, q.NextWake(t0))
	require.Empty(t, q.ExpiredHolds(resets.Add(-time.Second)))

	// A second quota failure with an earlier reset does not shorten the hold.
	earlier := t0.Add(time.Hour)
	require.True(t, q.Apply(&events.RunFailed{RunID: "c2", Attempt: 1, Reason: runs.ReasonRateLimited, ResetsAt: &earlier, Retryable: true}, t0))
	ds = q.Retries(t0)
	require.Nil(t, ds[0].Hold)
	require.True(t, q.Apply(&events.RunRetryScheduled{RunID: "c2", Attempt: 1, NextAttempt: 2, NotBefore: t0, Reason: runs.ReasonRateLimited}, t0))
	require.True(t, q.Apply(&events.RunQueued{RunID: "c2", Attempt: 2, Position: 2}, t0))

	// At the reset the hold expires, is released, and the runs go, oldest first.
	exp := q.ExpiredHolds(resets)
	require.Len(t, exp, 1)
	require.False(t, q.Apply(&events.ProviderReleased{Provider: "claude", Until: resets.Add(-time.Hour), Reason: "expired"}, resets), "a release of an older hold")
	require.True(t, q.Apply(&events.ProviderReleased{Provider: "claude", Until: resets, Reason: "expired"}, resets))
	require.Equal(t, []string{"hit", "c2"}, dispatchAllAt(q, resets))
}

func TestHoldWithoutResetUsesTheDefaultAndCapsFarResets(t *testing.T) {
	t.Parallel()
	p := queue.DefaultPolicy()
	q := queue.New(queue.Limits{MaxRunning: 3, MaxPerProvider: 3, Capacity: 10}, p)
	for _, id := range []string{"a", "b"} {
		s := spec(id)
		submit(t, q, id, s)
	}
	dispatchAll(q)
	far := t0.Add(100 * time.Hour)
	require.True(t, q.Apply(&events.RunFailed{RunID: "a", Attempt: 1, Reason: runs.ReasonRateLimited, Retryable: true}, t0))
	require.True(t, q.Apply(&events.RunFailed{RunID: "b", Attempt: 1, Reason: runs.ReasonUsageLimit, ResetsAt: &far, Retryable: true}, t0))
	ds := q.Retries(t0)
	require.Equal(t, t0.Add(p.DefaultHold), ds[0].Hold.Until)
	require.False(t, ds[0].Hold.ResetKnown)
	require.Equal(t, t0.Add(p.MaxHold), ds[1].Hold.Until)
}

func TestOverdueAttempts(t *testing.T) {
	t.Parallel()
	p := queue.DefaultPolicy()
	q := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 2, Capacity: 10}, p)
	s := spec("a")
	s.TimeoutSeconds = intp(10)
	submit(t, q, "r", s)
	submit(t, q, "forever", spec("a"))
	dispatchAll(q)
	dl := t0.Add(10 * time.Second)
	require.Empty(t, q.Overdue(dl.Add(p.DeadlineGrace)))
	require.Equal(t, dl.Add(p.DeadlineGrace).Add(time.Millisecond), q.NextWake(t0))
	over := q.Overdue(dl.Add(p.DeadlineGrace).Add(time.Millisecond))
	require.Len(t, over, 1)
	require.Equal(t, "r", over[0].ID)
}

func TestApplyIsIdempotentAndFenced(t *testing.T) {
	t.Parallel()
	s := spec("a")
	evs := []events.Payload{
		&events.RunRequested{RunID: "r", Spec: s},
		&events.RunQueued{RunID: "r", Attempt: 1, Position: 1},
		&events.RunDispatched{RunID: "r", Attempt: 1},
		&events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w"},
	}
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	for _, e := range evs {
		require.True(t, q.Apply(e, t0), e.EventType())
	}
	want := q.Snapshot()
	for _, e := range append(evs, evs[0], evs[2], evs[1]) {
		require.False(t, q.Apply(e, t0), e.EventType())
	}
	require.Equal(t, want, q.Snapshot())
	require.Equal(t, 1, q.Active())

	for _, tc := range []struct {
		name string
		ev   events.Payload
	}{
		{"stale attempt end", &events.RunCompleted{RunID: "r", Attempt: 0}},
		{"dispatch of another attempt", &events.RunDispatched{RunID: "r", Attempt: 2}},
		{"start of another attempt", &events.RunStarted{RunID: "r", Attempt: 2}},
		{"retry of a running attempt", &events.RunRetryScheduled{RunID: "r", Attempt: 1, NextAttempt: 2}},
		{"rejection of a queued run", &events.RunRejected{RunID: "r"}},
		{"unknown run", &events.RunCompleted{RunID: "x", Attempt: 1}},
		{"untracked type", &events.RunProgress{RunID: "r", Attempt: 1}},
		{"other aggregate", &events.RunnerRegistered{RunnerID: "w"}},
	} {
		require.False(t, q.Apply(tc.ev, t0), tc.name)
	}
	require.Equal(t, want, q.Snapshot())

	require.True(t, q.Apply(&events.RunCompleted{RunID: "r", Attempt: 1}, t0))
	require.False(t, q.Apply(&events.RunCompleted{RunID: "r", Attempt: 1}, t0))
	require.False(t, q.Apply(&events.RunFailed{RunID: "r", Attempt: 1}, t0), "one end per run")
	require.False(t, q.Apply(&events.RunQueued{RunID: "r", Attempt: 1}, t0))
	require.False(t, q.Apply(&events.RunRequested{RunID: "r", Spec: s}, t0), "a finished run is not requested again")
	require.Equal(t, 0, q.Active())

	// Finished runs are forgotten after ForgetAfter.
	require.Equal(t, 0, q.Prune(t0.Add(q.Policy().ForgetAfter)))
	require.Equal(t, 1, q.Prune(t0.Add(q.Policy().ForgetAfter+time.Nanosecond)))
	_, known := q.Get("r")
	require.False(t, known)
}

func TestALateDispatchWithoutQueuedStillCounts(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	require.True(t, q.Apply(&events.RunRequested{RunID: "r", Spec: spec("a")}, t0))
	require.True(t, q.Apply(&events.RunDispatched{RunID: "r", Attempt: 1}, t0))
	require.Equal(t, 1, q.Active())
	require.Empty(t, q.Undecided())
	require.False(t, q.Apply(&events.RunQueued{RunID: "r", Attempt: 1}, t0))
}

func TestRetryableFailureOfAStaleAttemptIsIgnored(t *testing.T) {
	t.Parallel()
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	submit(t, q, "r0", spec("a"))
	submit(t, q, "r1", spec("a"))
	require.Equal(t, []string{"r0"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}, t0))
	r, _ := q.Get("r0")
	require.Equal(t, queue.PhaseRetryPending, r.Phase)
	require.False(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}, t0), "reported twice")
	require.Equal(t, []string{"r1"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunRetryScheduled{RunID: "r0", Attempt: 1, NextAttempt: 2, NotBefore: t0, Reason: runs.ReasonRunnerLost}, t0))
	require.True(t, q.Apply(&events.RunQueued{RunID: "r0", Attempt: 2}, t0))
	require.False(t, q.Apply(&events.RunCompleted{RunID: "r0", Attempt: 1}, t0), "a late end of attempt 1")
	sn := q.Snapshot()
	require.Len(t, sn.Queued, 1)
	require.Equal(t, 2, sn.Queued[0].Attempt)
	require.Equal(t, 1, sn.Queued[0].Retries)
	require.Equal(t, queue.CancelInQueue, q.Cancel("r0", queue.CancelRequest{}).Action)
}

func TestReplayGivesTheSameSnapshot(t *testing.T) {
	t.Parallel()
	live := newQ(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 4})
	type logged struct {
		e  events.Payload
		at time.Time
	}
	var log []logged
	appendEv := func(e events.Payload, at time.Time) {
		log = append(log, logged{e, at})
		live.Apply(e, at)
		live.Apply(e, at) // the echo from the stream
	}
	now := t0
	for i, a := range []string{"a", "b", "a", "c", "a", "b", "a"} {
		now = now.Add(time.Second)
		id := fmt.Sprintf("r%d", i)
		s := spec(a)
		s.Priority = intp(i % 3)
		appendEv(&events.RunRequested{RunID: id, Spec: s}, now)
		d, _ := live.Decide(id, now, 0)
		if d.Rejection != nil {
			appendEv(&events.RunRejected{RunID: id, Reason: d.Rejection.Reason}, now)
		} else {
			appendEv(&events.RunQueued{RunID: id, Attempt: 1, Position: d.Position}, now)
		}
		for _, d := range live.NextDispatches(now) {
			appendEv(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt}, now)
		}
	}
	appendEv(&events.RunStarted{RunID: "r0", Attempt: 1, RunnerID: "w"}, now)
	appendEv(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonRateLimited, Retryable: true}, now)
	for _, d := range live.Retries(now) {
		appendEv(&events.ProviderHeld{Provider: d.Hold.Provider, Until: d.Hold.Until, Reason: d.Reason}, now)
		appendEv(&events.RunRetryScheduled{RunID: d.RunID, Attempt: d.Attempt, NextAttempt: d.NextAttempt, NotBefore: d.NotBefore, Reason: d.Reason}, now)
	}
	for _, d := range live.NextDispatches(now) {
		appendEv(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt}, now)
	}

	replayed := queue.New(live.Limits(), live.Policy())
	for _, l := range log {
		replayed.Apply(l.e, l.at)
	}
	require.Equal(t, live.Snapshot(), replayed.Snapshot())
	require.NotEmpty(t, live.Snapshot().Queued)
	require.NotEmpty(t, live.Snapshot().Holds)
	require.NotEmpty(t, live.Snapshot().Retrying)
	require.Equal(t, live.NextDispatches(now), replayed.NextDispatches(now), "the same decisions next")
}

// A late end of an attempt that failed retryably (a runner that comes back
// and reports what it was doing) changes nothing, whether it is stored
// before or after the scheduler's retry: replays in either order agree.
func TestAnAbandonedAttemptsLateEndChangesNothingInEitherOrder(t *testing.T) {
	t.Parallel()
	base := []events.Payload{
		&events.RunRequested{RunID: "r", Spec: spec("a")},
		&events.RunQueued{RunID: "r", Attempt: 1},
		&events.RunDispatched{RunID: "r", Attempt: 1},
		&events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w"},
		&events.RunFailed{RunID: "r", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true},
	}
	late := &events.RunCompleted{RunID: "r", Attempt: 1}
	retry := []events.Payload{
		&events.RunRetryScheduled{RunID: "r", Attempt: 1, NextAttempt: 2, NotBefore: t0, Reason: runs.ReasonRunnerLost},
		&events.RunQueued{RunID: "r", Attempt: 2},
	}
	var snaps []queue.Snapshot
	for _, order := range [][]events.Payload{
		append(append(append([]events.Payload{}, base...), late), retry...),
		append(append(append([]events.Payload{}, base...), retry[0], late), retry[1]),
		append(append(append([]events.Payload{}, base...), retry...), late),
	} {
		q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
		for _, e := range order {
			q.Apply(e, t0)
		}
		snaps = append(snaps, q.Snapshot())
	}
	require.Len(t, snaps[0].Queued, 1, "attempt 2 waits")
	require.Equal(t, snaps[0], snaps[1])
	require.Equal(t, snaps[0], snaps[2])

	// Only an end of the next attempt (the scheduler's cancel) ends the run.
	q := newQ(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	for _, e := range append(base, retry[0]) {
		q.Apply(e, t0)
	}
	d := q.Cancel("r", queue.CancelRequest{By: "me"})
	require.Equal(t, queue.CancelInQueue, d.Action)
	require.Equal(t, 2, d.Attempt)
	require.True(t, q.Apply(&events.RunCanceled{RunID: "r", Attempt: 2}, t0))
	r, _ := q.Get("r")
	require.Equal(t, queue.PhaseFinished, r.Phase)
}
