package command_test

import (
	"context"
	"errors"
	"github.com/phantom-run/phantom/pkg/tracing"
	"go.opentelemetry.io/otel/trace"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// These tests drive the use cases through a Bus that records what is sent
// and fails on demand, to show what happens when a publish fails half way.
// The service package tests the same flows against a real NATS server.

type recordingBus struct {
	mu         sync.Mutex
	appended   []events.Payload
	dispatches []commands.Dispatch
	cancels    []commands.RunnerCancel
	// failAppend fails the next appends of these event types.
	failAppend   map[string]bool
	failDispatch bool
	// traces records the trace id each publish carried, by event type or "dispatch".
	traces map[string]string
}

func (b *recordingBus) trace(ctx context.Context, what string) {
	if b.traces == nil {
		b.traces = map[string]string{}
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b.traces[what] = sc.TraceID().String()
	}
}

var errDown = errors.New("nats is down")

func (b *recordingBus) Append(ctx context.Context, ev events.Payload, _ string, _ int) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trace(ctx, ev.EventType()+" "+ev.AggregateID())
	if b.failAppend[ev.EventType()] {
		return errDown
	}
	b.appended = append(b.appended, ev)
	return nil
}

func (b *recordingBus) Dispatch(ctx context.Context, d commands.Dispatch) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trace(ctx, "dispatch "+d.RunID)
	if b.failDispatch {
		return errDown
	}
	b.dispatches = append(b.dispatches, d)
	return nil
}

func (b *recordingBus) CancelOnRunner(_ context.Context, c commands.RunnerCancel) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cancels = append(b.cancels, c)
	return nil
}

func (b *recordingBus) types() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.appended))
	for i, e := range b.appended {
		out[i] = e.EventType() + " " + e.AggregateID()
	}
	return out
}

type nopMetrics struct{}

func (nopMetrics) State(int, int)        {}
func (nopMetrics) Dispatched()           {}
func (nopMetrics) Rejected(string)       {}
func (nopMetrics) Applied(time.Duration) {}

type testBundle struct {
	ctx   context.Context
	bus   *recordingBus
	clock *time.Time
	s     *command.Scheduler
}

func setup(t *testing.T, limits queue.Limits) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := &testBundle{ctx: ctx, bus: &recordingBus{failAppend: map[string]bool{}}, clock: &now}
	s, err := command.New(command.Config{Limits: limits, ResendWindow: 90 * time.Second, Now: func() time.Time { return *b.clock }},
		b.bus, nopMetrics{}, testenv.Logger(t))
	require.NoError(t, err)
	require.NoError(t, s.Recover(ctx))
	b.s = s
	return b
}

func spec(agent string) runs.Spec { return runs.Spec{Agent: agent, Workspace: "/w"} }

var limits = queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10}

func TestNewRejectsBadLimits(t *testing.T) {
	t.Parallel()
	_, err := command.New(command.Config{Limits: queue.Limits{}, ResendWindow: time.Second}, &recordingBus{}, nopMetrics{}, testenv.Logger(t))
	require.ErrorContains(t, err, "MaxRunning 0 must be at least 1")
}

func TestAFailedAppendIsFinishedByTheRedeliveredSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t, limits)
	b.bus.failAppend["run.queued"] = true
	submit := commands.SubmitRun{RunID: "r1", Spec: spec("a")}
	require.ErrorIs(t, b.s.Submit(b.ctx, submit), errDown)
	require.Equal(t, []string{"run.requested r1"}, b.bus.types())
	require.Equal(t, "r1", b.s.Snapshot().Undecided[0].RunID, "requested, not decided")

	// The command comes back (it was nacked): the run is known, so no second
	// run.requested, but the decision left undone is taken.
	b.bus.failAppend["run.queued"] = false
	require.NoError(t, b.s.Submit(b.ctx, submit))
	require.Equal(t, []string{"run.requested r1", "run.queued r1", "run.dispatched r1"}, b.bus.types())
	require.Len(t, b.bus.dispatches, 1)
}

func TestAFailedDispatchIsRetriedWithinItsWindowOnly(t *testing.T) {
	t.Parallel()
	b := setup(t, limits)
	b.bus.failDispatch = true
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r1", Spec: spec("a")}), "the events are recorded; the message is retried later")
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r2", Spec: spec("b")}))
	require.Empty(t, b.bus.dispatches)

	// Both messages are retried on the next tick, in dispatch order.
	b.bus.failDispatch = false
	*b.clock = b.clock.Add(10 * time.Second)
	require.NoError(t, b.s.Tick(b.ctx))
	require.Len(t, b.bus.dispatches, 2)
	require.Equal(t, "r1", b.bus.dispatches[0].RunID)
	require.NoError(t, b.s.Tick(b.ctx))
	require.Len(t, b.bus.dispatches, 2, "a message sent is not sent again")

	// A message that cannot be sent within the window is given up: sending it
	// later could deliver the attempt twice.
	b.bus.failDispatch = true
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r3", Spec: spec("c")}))
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Payload: &events.RunCompleted{RunID: "r1", Attempt: 1}}))
	require.Equal(t, "run.dispatched r3", b.bus.types()[len(b.bus.types())-1])
	*b.clock = b.clock.Add(91 * time.Second)
	b.bus.failDispatch = false
	require.NoError(t, b.s.Tick(b.ctx))
	require.Len(t, b.bus.dispatches, 2)
}

func TestCancelPaths(t *testing.T) {
	t.Parallel()
	b := setup(t, queue.Limits{MaxRunning: 1, MaxPerProvider: 1, Capacity: 10})
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r1", Spec: spec("a")}))
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r2", Spec: spec("b")}))

	// Queued: canceled in the queue, with the default reason.
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r2", By: "me"}))
	last := b.bus.appended[len(b.bus.appended)-1]
	require.Equal(t, &events.RunCanceled{RunID: "r2", Attempt: 1, Reason: runs.ReasonCanceled, By: "me"}, last)

	// Dispatched, not started: pending until run.started.
	require.ErrorIs(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r1", Reason: "stop"}), command.ErrCancelPending)
	require.Empty(t, b.bus.cancels)
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Seq: 9, Payload: &events.RunStarted{RunID: "r1", Attempt: 1, RunnerID: "w-1"}}))
	require.Equal(t, []commands.RunnerCancel{{RunnerID: "w-1", RunID: "r1", Attempt: 1, Reason: "stop"}}, b.bus.cancels)
	require.Equal(t, uint64(9), b.s.LastSeq())

	// Finished or unknown: nothing.
	n := len(b.bus.appended)
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r2"}))
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "nobody"}))
	require.Len(t, b.bus.appended, n)
	require.Len(t, b.bus.cancels, 1)
}

func TestNothingIsDecidedDuringReplay(t *testing.T) {
	t.Parallel()
	bus := &recordingBus{}
	s, err := command.New(command.Config{Limits: limits, ResendWindow: time.Minute}, bus, nopMetrics{}, testenv.Logger(t))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.OnEvent(ctx, command.Event{Seq: 1, Payload: &events.RunRequested{RunID: "r1", Spec: spec("a")}}))
	require.NoError(t, s.Submit(ctx, commands.SubmitRun{RunID: "r1", Spec: spec("a")}))
	require.NoError(t, s.Tick(ctx))
	require.False(t, s.Live())
	require.Empty(t, bus.appended)
	require.NoError(t, s.Recover(ctx))
	require.True(t, s.Live())
	require.Equal(t, []string{"run.queued r1", "run.dispatched r1"}, bus.types())
}

// Everything published about a run joins the trace of its submit, even when
// another run's completion is what triggered the publish.
func TestPublishesAboutARunCarryItsRequestTrace(t *testing.T) {
	b := setup(t, limits)
	ctxA := tracing.Ensure(b.ctx)
	ctxB := tracing.Ensure(b.ctx)
	traceOf := func(ctx context.Context) string { return trace.SpanContextFromContext(ctx).TraceID().String() }
	require.NoError(t, b.s.Submit(ctxA, commands.SubmitRun{RunID: "A", Spec: spec("claude")}))
	require.NoError(t, b.s.Submit(ctxB, commands.SubmitRun{RunID: "B", Spec: spec("claude")}))
	// B waits behind A (one claude at a time); A's completion, seen on the
	// untraced event tail, releases B.
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Seq: 99, Payload: &events.RunStarted{RunID: "A", Attempt: 1, RunnerID: "r1"}}))
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Seq: 100, Payload: &events.RunCompleted{RunID: "A", Attempt: 1}}))
	b.bus.mu.Lock()
	defer b.bus.mu.Unlock()
	require.Equal(t, traceOf(ctxA), b.bus.traces["run.requested A"])
	require.Equal(t, traceOf(ctxA), b.bus.traces["dispatch A"])
	require.Equal(t, traceOf(ctxB), b.bus.traces["run.queued B"])
	require.Equal(t, traceOf(ctxB), b.bus.traces["run.dispatched B"])
	require.Equal(t, traceOf(ctxB), b.bus.traces["dispatch B"])
}
