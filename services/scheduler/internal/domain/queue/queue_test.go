package queue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func intp(i int) *int { return &i }

func spec(agent string) runs.Spec { return runs.Spec{Agent: agent, Prompt: "p", Workspace: "/w"} }

// submit applies what the scheduler appends for a valid submit: requested,
// then queued as Decide says.
func submit(t *testing.T, q *queue.Queue, id string, s runs.Spec) queue.Decision {
	t.Helper()
	require.True(t, q.Apply(&events.RunRequested{RunID: id, Spec: s}, t0))
	d, ok := q.Decide(id)
	require.True(t, ok)
	if d.Rejection == nil {
		require.True(t, q.Apply(&events.RunQueued{RunID: id, Attempt: d.Attempt, Position: d.Position}, t0))
	} else {
		require.True(t, q.Apply(&events.RunRejected{RunID: id, Reason: d.Rejection.Reason}, t0))
	}
	return d
}

// dispatchAll applies run.dispatched for every decision NextDispatches makes
// and returns the run ids in order.
func dispatchAll(q *queue.Queue) []string {
	var ids []string
	for _, d := range q.NextDispatches(t0) {
		q.Apply(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt, Pool: d.Pool, Provider: d.Provider, Deadline: d.Deadline}, t0)
		ids = append(ids, d.RunID)
	}
	return ids
}

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
	} {
		err := tc.l.Validate()
		if tc.want == "" {
			require.NoError(t, err)
		} else {
			require.EqualError(t, err, tc.want)
		}
	}
}

func TestValidateNamesTheFieldAndRange(t *testing.T) {
	t.Parallel()
	with := func(f func(*runs.Spec)) runs.Spec { s := spec("claude"); f(&s); return s }
	for _, tc := range []struct {
		name  string
		spec  runs.Spec
		field string
		msg   string
	}{
		{"valid", spec("claude"), "", ""},
		{"valid bounds", with(func(s *runs.Spec) { s.Priority = intp(-10); s.TimeoutSeconds = intp(10800); s.Pool = "gpu-1" }), "", ""},
		{"valid low timeout", with(func(s *runs.Spec) { s.Priority = intp(10); s.TimeoutSeconds = intp(5) }), "", ""},
		{"no agent", with(func(s *runs.Spec) { s.Agent = "" }), "agent", "agent is required"},
		{"agent not a token", with(func(s *runs.Spec) { s.Agent = "a.b" }), "agent", "must be 1-128 characters"},
		{"no workspace", with(func(s *runs.Spec) { s.Workspace = "" }), "workspace", "workspace is required"},
		{"pool wildcard", with(func(s *runs.Spec) { s.Pool = "gpu.>" }), "pool", "must be 1-128 characters"},
		{"pool space", with(func(s *runs.Spec) { s.Pool = "a b" }), "pool", "must be 1-128 characters"},
		{"provider dot", with(func(s *runs.Spec) { s.Provider = "x.y" }), "provider", "must be 1-128 characters"},
		{"priority high", with(func(s *runs.Spec) { s.Priority = intp(11) }), "priority", "priority 11 must be in -10..=10"},
		{"priority low", with(func(s *runs.Spec) { s.Priority = intp(-11) }), "priority", "priority -11 must be in -10..=10"},
		{"timeout low", with(func(s *runs.Spec) { s.TimeoutSeconds = intp(4) }), "timeoutSeconds", "timeoutSeconds 4 must be in 5..=10800"},
		{"timeout high", with(func(s *runs.Spec) { s.TimeoutSeconds = intp(10801) }), "timeoutSeconds", "timeoutSeconds 10801 must be in 5..=10800"},
		{"isolation", with(func(s *runs.Spec) { s.Isolation = "container" }), "isolation", `isolation "container" must be`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rej := queue.Validate(tc.spec)
			if tc.field == "" {
				require.Nil(t, rej)
				return
			}
			require.NotNil(t, rej)
			require.Equal(t, runs.ReasonInvalidRequest, rej.Reason)
			require.Equal(t, tc.field, rej.Field)
			require.Contains(t, rej.Message, tc.msg)
		})
	}
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := queue.New(tc.limits)
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

func TestProviderOverrideIsTheConcurrencyKey(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 5, MaxPerProvider: 1, Capacity: 10})
	s := spec("claude")
	s.Provider = "anthropic"
	submit(t, q, "r0", s)
	s2 := spec("claude-fast")
	s2.Provider = "anthropic"
	submit(t, q, "r1", s2)
	submit(t, q, "r2", spec("codex"))
	require.Equal(t, []string{"r0", "r2"}, dispatchAll(q))
	require.Equal(t, 1, q.ActiveFor("anthropic"))
	require.Equal(t, 1, q.ActiveFor("codex"))
}

func TestFIFOAndCompletionsReleaseInOrder(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	agents := []string{"a", "a", "b", "a", "b"}
	for i, a := range agents {
		d := submit(t, q, fmt.Sprintf("r%d", i), spec(a))
		require.Equal(t, i+1, d.Position, "position counts the queued runs")
	}
	require.Equal(t, []string{"r0", "r2"}, dispatchAll(q))

	// r2 (b) starts and completes: the next b in FIFO order is r4.
	require.True(t, q.Apply(&events.RunStarted{RunID: "r2", Attempt: 1, RunnerID: "w1"}, t0))
	require.True(t, q.Apply(&events.RunCompleted{RunID: "r2", Attempt: 1}, t0))
	require.Equal(t, []string{"r4"}, dispatchAll(q))
	// r0 (a) fails for good: the next a is r1, then r3.
	require.True(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonAgentError}, t0))
	require.Equal(t, []string{"r1"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunCanceled{RunID: "r1", Attempt: 1}, t0))
	require.Equal(t, []string{"r3"}, dispatchAll(q))
	require.Equal(t, 0, q.Depth())
	require.Equal(t, 2, q.Active())
}

func TestCapacityRejectsQueueFull(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 3})
	for i := range 3 {
		d := submit(t, q, fmt.Sprintf("r%d", i), spec("a"))
		require.Nil(t, d.Rejection)
	}
	d := submit(t, q, "r3", spec("a"))
	require.NotNil(t, d.Rejection)
	require.Equal(t, runs.ReasonQueueFull, d.Rejection.Reason)
	require.Empty(t, d.Rejection.Field)
	require.Equal(t, 3, q.Depth())
	r, ok := q.Get("r3")
	require.True(t, ok)
	require.Equal(t, queue.PhaseFinished, r.Phase)

	// A dispatch frees a queue place.
	require.Equal(t, []string{"r0"}, dispatchAll(q))
	d = submit(t, q, "r4", spec("a"))
	require.Nil(t, d.Rejection)
	require.Equal(t, 3, d.Position)
}

func TestInvalidSpecIsRejectedBeforeCapacity(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 1})
	s := spec("a")
	s.Priority = intp(42)
	d := submit(t, q, "bad", s)
	require.Equal(t, runs.ReasonInvalidRequest, d.Rejection.Reason)
	require.Equal(t, "priority", d.Rejection.Field)
	require.Equal(t, 0, q.Depth(), "a rejected run changes nothing")
}

func TestDeadlineFromTimeout(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	s := spec("a")
	s.TimeoutSeconds = intp(60)
	submit(t, q, "r0", s)
	submit(t, q, "r1", spec("b"))
	ds := q.NextDispatches(t0)
	require.Len(t, ds, 2)
	require.Equal(t, t0.Add(time.Minute), *ds[0].Deadline)
	require.Nil(t, ds[1].Deadline)
	require.Equal(t, runs.DefaultPool, ds[0].Pool)
}

func TestCancel(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
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

	// A canceled queued run is never dispatched.
	require.True(t, q.Apply(&events.RunCanceled{RunID: "queued", Attempt: 1}, t0))
	require.True(t, q.Apply(&events.RunCompleted{RunID: "running", Attempt: 1}, t0))
	require.Empty(t, q.NextDispatches(t0))
	require.Equal(t, 0, q.Depth())

	// The remembered cancel comes due when the run starts, once.
	_, due := q.CancelDue("dispatched")
	require.False(t, due, "not started yet")
	require.True(t, q.Apply(&events.RunStarted{RunID: "dispatched", Attempt: 1, RunnerID: "w2"}, t0))
	d, due := q.CancelDue("dispatched")
	require.True(t, due)
	require.Equal(t, queue.CancelDecision{Action: queue.CancelOnRunner, RunID: "dispatched", Attempt: 1, RunnerID: "w2", Known: true, Phase: queue.PhaseRunning, CancelRequest: req}, d)
	_, due = q.CancelDue("dispatched")
	require.False(t, due)
	// The slot is held until the runner reports the end.
	require.Equal(t, 1, q.Active())
	require.True(t, q.Apply(&events.RunCanceled{RunID: "dispatched", Attempt: 1}, t0))
	require.Equal(t, 0, q.Active())
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
	q := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10})
	for _, e := range evs {
		require.True(t, q.Apply(e, t0), e.EventType())
	}
	want := q.Snapshot()
	// Every event again, in order and out of order: nothing changes.
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
	require.Equal(t, 0, q.Active())
	require.Equal(t, 1, q.Snapshot().Finished)
}

func TestRetryableFailureFreesTheSlotAndParksTheRun(t *testing.T) {
	t.Parallel()
	q := queue.New(queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	submit(t, q, "r0", spec("a"))
	submit(t, q, "r1", spec("a"))
	require.Equal(t, []string{"r0"}, dispatchAll(q))
	require.True(t, q.Apply(&events.RunFailed{RunID: "r0", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}, t0))
	r, _ := q.Get("r0")
	require.Equal(t, queue.PhaseAwaitingRetry, r.Phase)
	require.Equal(t, []string{"r1"}, dispatchAll(q))
	// A later retry queues attempt 2; a stale event of attempt 1 is ignored.
	require.True(t, q.Apply(&events.RunQueued{RunID: "r0", Attempt: 2}, t0))
	require.False(t, q.Apply(&events.RunCompleted{RunID: "r0", Attempt: 1}, t0))
	require.Equal(t, []queue.Entry{{RunID: "r0", Attempt: 2, Provider: "a", Pool: "default", Phase: queue.PhaseQueued}}, q.Snapshot().Queued)
	require.Equal(t, queue.CancelInQueue, q.Cancel("r0", queue.CancelRequest{}).Action)
}

func TestReplayGivesTheSameSnapshot(t *testing.T) {
	t.Parallel()
	// Live: decisions applied as they are made, with echoes interleaved.
	live := queue.New(queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 4})
	var log []events.Payload
	appendEv := func(e events.Payload) {
		log = append(log, e)
		live.Apply(e, t0)
		live.Apply(e, t0) // the echo from the stream
	}
	for i, a := range []string{"a", "b", "a", "c", "a", "b", "a"} {
		id := fmt.Sprintf("r%d", i)
		appendEv(&events.RunRequested{RunID: id, Spec: spec(a)})
		d, _ := live.Decide(id)
		if d.Rejection != nil {
			appendEv(&events.RunRejected{RunID: id, Reason: d.Rejection.Reason})
		} else {
			appendEv(&events.RunQueued{RunID: id, Attempt: 1, Position: d.Position})
		}
		for _, d := range live.NextDispatches(t0) {
			appendEv(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt})
		}
	}
	appendEv(&events.RunStarted{RunID: "r0", Attempt: 1, RunnerID: "w"})
	appendEv(&events.RunCompleted{RunID: "r0", Attempt: 1})
	for _, d := range live.NextDispatches(t0) {
		appendEv(&events.RunDispatched{RunID: d.RunID, Attempt: d.Attempt})
	}

	replayed := queue.New(live.Limits())
	for _, e := range log {
		replayed.Apply(e, t0)
	}
	require.Equal(t, live.Snapshot(), replayed.Snapshot())
	require.NotEmpty(t, live.Snapshot().Queued)
	require.Empty(t, replayed.NextDispatches(t0), "nothing that was dispatched is dispatched again")
}
