package runstate_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/projector/internal/domain/runstate"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// fold applies payloads as events 1..n, one second apart.
func fold(t *testing.T, ps ...events.Payload) *runstate.Run {
	t.Helper()
	var r *runstate.Run
	for i, p := range ps {
		ev := runstate.Event{Seq: uint64(i + 1), Time: at(i), Payload: p}
		if r == nil {
			r = runstate.New("r1", ev)
		}
		require.NoError(t, r.Apply(ev))
	}
	return r
}

func ptr[T any](v T) *T { return &v }

var requested = &events.RunRequested{RunID: "r1", Spec: runs.Spec{Agent: "claude", Prompt: "fix it", Workspace: "/w", Priority: ptr(3)}, RequestedBy: "alice"}

func TestFold(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		events []events.Payload
		check  func(t *testing.T, r *runstate.Run)
	}{
		{
			name:   "requested fills the request and defaults",
			events: []events.Payload{requested},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusRequested, r.Status)
				require.Equal(t, "claude", r.Agent)
				require.Equal(t, "claude", r.Provider, "provider defaults to the agent")
				require.Equal(t, runs.DefaultPool, r.Pool)
				require.Equal(t, 3, r.Priority)
				require.Equal(t, ptr("alice"), r.RequestedBy)
				require.JSONEq(t, `{"agent":"claude","prompt":"fix it","workspace":"/w","priority":3}`, string(r.Spec))
				require.Equal(t, at(0), r.CreatedAt)
				require.False(t, r.Placeholder())
			},
		},
		{
			name: "a full lifecycle",
			events: []events.Payload{
				requested,
				&events.RunQueued{RunID: "r1", Attempt: 1, Priority: 5, Provider: "anthropic", Pool: "gpu"},
				&events.RunDispatched{RunID: "r1", Attempt: 1},
				&events.RunWorktreePrepared{RunID: "r1", Attempt: 1, Path: "/wt"},
				&events.RunStarted{RunID: "r1", Attempt: 1, RunnerID: "rn1", Host: "h1", PID: 42, Cwd: "/wt"},
				&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "r1", Attempt: 1, Seq: 1, Data: "hi\n"}},
				&events.RunCLIExit{RunID: "r1", Attempt: 1, ExitCode: 0},
				&events.RunCompleted{RunID: "r1", Attempt: 1, Result: "done"},
			},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusCompleted, r.Status)
				require.Equal(t, 1, r.Attempt)
				require.Equal(t, 5, r.Priority)
				require.Equal(t, "anthropic", r.Provider)
				require.Equal(t, "gpu", r.Pool)
				require.Equal(t, ptr("rn1"), r.RunnerID)
				require.Equal(t, ptr(42), r.PID)
				require.Equal(t, ptr(0), r.ExitCode)
				require.Equal(t, ptr("done"), r.Result)
				require.Equal(t, ptr(at(1)), r.QueuedAt)
				require.Equal(t, ptr(at(2)), r.DispatchedAt)
				require.Equal(t, ptr(at(4)), r.StartedAt)
				require.Equal(t, ptr(at(7)), r.FinishedAt)
				require.Equal(t, at(7), r.UpdatedAt)
				require.Equal(t, uint64(8), r.LastSeq)
				require.Nil(t, r.Reason)
			},
		},
		{
			name: "worktree prepared means preparing",
			events: []events.Payload{requested, &events.RunQueued{RunID: "r1", Attempt: 1}, &events.RunDispatched{RunID: "r1", Attempt: 1},
				&events.RunWorktreePrepared{RunID: "r1", Attempt: 1}},
			check: func(t *testing.T, r *runstate.Run) { require.Equal(t, runs.StatusPreparing, r.Status) },
		},
		{
			name: "a retryable failure waits for the scheduler, then a new attempt clears the old one",
			events: []events.Payload{
				requested,
				&events.RunQueued{RunID: "r1", Attempt: 1},
				&events.RunDispatched{RunID: "r1", Attempt: 1},
				&events.RunStarted{RunID: "r1", Attempt: 1, RunnerID: "rn1", PID: 1},
				&events.RunFailed{RunID: "r1", Attempt: 1, Reason: runs.ReasonRateLimited, Message: "slow down", Retryable: true},
			},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusRetryScheduled, r.Status, "a retryable failure is not terminal: another attempt follows")
				require.Equal(t, ptr(runs.ReasonRateLimited), r.Reason)
				require.Nil(t, r.FinishedAt)
				// The failed attempt is abandoned: a late end of it changes nothing.
				require.NoError(t, r.Apply(runstate.Event{Seq: 6, Time: at(5), Payload: &events.RunCompleted{RunID: "r1", Attempt: 1}}))
				require.Equal(t, runs.StatusRetryScheduled, r.Status)
				require.Nil(t, r.FinishedAt)
				require.Equal(t, uint64(6), r.LastSeq)
				require.NoError(t, r.Apply(runstate.Event{Seq: 7, Time: at(5), Payload: &events.RunRetryScheduled{RunID: "r1", Attempt: 1, NextAttempt: 2, Reason: runs.ReasonRateLimited}}))
				require.Equal(t, runs.StatusRetryScheduled, r.Status)
				require.NoError(t, r.Apply(runstate.Event{Seq: 8, Time: at(6), Payload: &events.RunQueued{RunID: "r1", Attempt: 2}}))
				require.Equal(t, runs.StatusQueued, r.Status)
				require.Equal(t, 2, r.Attempt)
				require.Nil(t, r.RunnerID, "the runner of attempt 1 does not describe attempt 2")
				require.Nil(t, r.Reason)
				require.Nil(t, r.StartedAt)
			},
		},
		{
			name: "a stale attempt never moves the status",
			events: []events.Payload{
				requested,
				&events.RunQueued{RunID: "r1", Attempt: 2},
				&events.RunDispatched{RunID: "r1", Attempt: 2},
				&events.RunStarted{RunID: "r1", Attempt: 2, RunnerID: "rn2", PID: 2},
				&events.RunCompleted{RunID: "r1", Attempt: 1, ExitCode: 0},
				&events.RunFailed{RunID: "r1", Attempt: 1, Reason: runs.ReasonRunnerLost},
				&events.RunCanceled{RunID: "r1", Attempt: 1},
			},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusRunning, r.Status)
				require.Equal(t, 2, r.Attempt)
				require.Equal(t, ptr("rn2"), r.RunnerID)
				require.Nil(t, r.ExitCode)
				require.Nil(t, r.Reason)
				require.Equal(t, uint64(7), r.LastSeq, "a stale event still counts as the run's latest")
			},
		},
		{
			name:   "the ce-attempt header fences a payload without an attempt of its own",
			events: []events.Payload{requested, &events.RunQueued{RunID: "r1", Attempt: 2}},
			check: func(t *testing.T, r *runstate.Run) {
				require.NoError(t, r.Apply(runstate.Event{Seq: 3, Time: at(2), Attempt: 1, Payload: &events.RunCanceled{RunID: "r1"}}))
				require.Equal(t, runs.StatusQueued, r.Status)
				require.NoError(t, r.Apply(runstate.Event{Seq: 4, Time: at(3), Attempt: 2, Payload: &events.RunCanceled{RunID: "r1", By: "bob"}}))
				require.Equal(t, runs.StatusCanceled, r.Status)
				require.Equal(t, ptr(runs.ReasonCanceled), r.Reason)
				require.Equal(t, ptr("canceled by bob"), r.Message)
			},
		},
		{
			name: "a terminal status is final, archiving still applies",
			events: []events.Payload{
				requested,
				&events.RunQueued{RunID: "r1", Attempt: 1},
				&events.RunFailed{RunID: "r1", Attempt: 1, Reason: runs.ReasonCLIMissing, Message: "no claude", ExitCode: ptr(127)},
				&events.RunCanceled{RunID: "r1", Attempt: 1},
				&events.RunCompleted{RunID: "r1", Attempt: 1},
				&events.RunArchived{RunID: "r1"},
			},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusFailed, r.Status)
				require.Equal(t, ptr(runs.ReasonCLIMissing), r.Reason)
				require.Equal(t, ptr("no claude"), r.Message)
				require.Equal(t, ptr(127), r.ExitCode)
				require.Equal(t, ptr(at(2)), r.FinishedAt)
				require.True(t, r.Archived)
			},
		},
		{
			name:   "rejected",
			events: []events.Payload{requested, &events.RunRejected{RunID: "r1", Reason: runs.ReasonQueueFull, Message: "512 queued"}},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusRejected, r.Status)
				require.Equal(t, ptr(runs.ReasonQueueFull), r.Reason)
				require.Equal(t, ptr(at(1)), r.FinishedAt)
			},
		},
		{
			name: "pause and resume",
			events: []events.Payload{requested, &events.RunQueued{RunID: "r1", Attempt: 1}, &events.RunDispatched{RunID: "r1", Attempt: 1},
				&events.RunStarted{RunID: "r1", Attempt: 1}, &events.RunPaused{RunID: "r1", Attempt: 1}},
			check: func(t *testing.T, r *runstate.Run) {
				require.Equal(t, runs.StatusPaused, r.Status)
				require.NoError(t, r.Apply(runstate.Event{Seq: 6, Time: at(5), Payload: &events.RunResumed{RunID: "r1", Attempt: 1}}))
				require.Equal(t, runs.StatusRunning, r.Status)
			},
		},
		{
			name: "events before run.requested make a placeholder that run.requested fills",
			events: []events.Payload{
				&events.RunQueued{RunID: "r1", Attempt: 1, Priority: 7, Provider: "p", Pool: "q"},
				&events.RunDispatched{RunID: "r1", Attempt: 1},
			},
			check: func(t *testing.T, r *runstate.Run) {
				require.True(t, r.Placeholder())
				require.Equal(t, runs.StatusDispatched, r.Status)
				require.Equal(t, at(0), r.CreatedAt)
				require.NoError(t, r.Apply(runstate.Event{Seq: 3, Time: at(2), Payload: requested}))
				require.False(t, r.Placeholder())
				require.Equal(t, runs.StatusDispatched, r.Status, "run.requested does not move a known run back")
				require.Equal(t, "claude", r.Agent)
				require.Equal(t, "p", r.Provider, "the scheduler's values stand")
				require.Equal(t, 7, r.Priority)
				require.Equal(t, at(2), r.CreatedAt)
			},
		},
		{
			name:   "an event at or below the last sequence changes nothing",
			events: []events.Payload{requested, &events.RunQueued{RunID: "r1", Attempt: 1}},
			check: func(t *testing.T, r *runstate.Run) {
				before := *r
				require.NoError(t, r.Apply(runstate.Event{Seq: 2, Time: at(9), Payload: &events.RunCanceled{RunID: "r1"}}))
				require.Equal(t, before, *r)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.check(t, fold(t, tc.events...))
		})
	}
}

func TestAttemptOf(t *testing.T) {
	t.Parallel()
	require.Equal(t, 3, runstate.AttemptOf(&events.RunChunkStderr{RunChunk: events.RunChunk{Attempt: 3}}))
	require.Equal(t, 2, runstate.AttemptOf(&events.SessionClosed{Attempt: 2}))
	require.Equal(t, 0, runstate.AttemptOf(&events.RunArchived{}))
	require.Equal(t, 0, runstate.AttemptOf(&events.RunRequested{}))
}
