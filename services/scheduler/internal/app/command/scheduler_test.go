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
	log        []command.Msg
	dispatches []commands.Dispatch
	cancels    []commands.RunnerCancel
	// failAppend fails the next appends of these event types.
	failAppend   map[string]bool
	failDispatch bool
	// traces records the trace id each publish carried, by event type or "dispatch".
	traces map[string]string
	conds  []command.Condition
}

func (b *recordingBus) trace(tp, what string) {
	if b.traces == nil {
		b.traces = map[string]string{}
	}
	ctx := tracing.WithTraceParent(context.Background(), tp, "")
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		b.traces[what] = sc.TraceID().String()
	}
}

var errDown = errors.New("nats is down")

func (b *recordingBus) Publish(_ context.Context, msgs []command.Msg) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, m := range msgs {
		switch {
		case m.Event != nil:
			b.trace(m.TraceParent, m.Event.EventType()+" "+m.Event.AggregateID())
			if b.failAppend[m.Event.EventType()] {
				return i, errDown
			}
			b.appended = append(b.appended, m.Event)
			b.log = append(b.log, m)
		default:
			switch c := m.Command.(type) {
			case commands.Dispatch:
				b.trace(m.TraceParent, "dispatch "+c.RunID)
				if b.failDispatch {
					return i, errDown
				}
				b.dispatches = append(b.dispatches, c)
			case commands.RunnerCancel:
				b.cancels = append(b.cancels, c)
			}
		}
	}
	return len(msgs), nil
}

func (b *recordingBus) AppendIf(ctx context.Context, m command.Msg, c command.Condition) error {
	b.mu.Lock()
	b.conds = append(b.conds, c)
	b.mu.Unlock()
	_, err := b.Publish(ctx, []command.Msg{m})
	return err
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

func (nopMetrics) State(int, int, int)   {}
func (nopMetrics) Dispatched()           {}
func (nopMetrics) Rejected(string)       {}
func (nopMetrics) Retried(string)        {}
func (nopMetrics) Held(string)           {}
func (nopMetrics) RunnerLost()           {}
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
	s, err := command.New(command.Config{Limits: limits, Policy: queue.DefaultPolicy(), ResendWindow: 90 * time.Second, Now: func() time.Time { return *b.clock }},
		b.bus, nopMetrics{}, testenv.Logger(t))
	require.NoError(t, err)
	require.NoError(t, s.Recover(ctx))
	b.s = s
	return b
}

func spec(agent string) runs.Spec { return runs.Spec{Agent: agent, Prompt: "p", Workspace: "/w"} }

var limits = queue.Limits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 10}

func TestNewRejectsBadLimits(t *testing.T) {
	t.Parallel()
	_, err := command.New(command.Config{Limits: queue.Limits{}, Policy: queue.DefaultPolicy(), ResendWindow: time.Second}, &recordingBus{}, nopMetrics{}, testenv.Logger(t))
	require.ErrorContains(t, err, "MaxRunning 0 must be at least 1")
}

func TestAFailedAppendStaysInTheOutboxInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, limits)
	b.bus.failAppend["run.queued"] = true
	submit := commands.SubmitRun{RunID: "r1", Spec: spec("a")}
	require.ErrorIs(t, b.s.Submit(b.ctx, submit), errDown)
	require.Equal(t, []string{"run.requested r1"}, b.bus.types(), "the stored prefix")
	require.Empty(t, b.bus.dispatches, "no dispatch message before its run.dispatched is stored")

	// A new decision goes behind the ones not stored yet, in order.
	require.ErrorIs(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r2", Spec: spec("b")}), errDown)
	require.Equal(t, []string{"run.requested r1"}, b.bus.types())

	// The command comes back (it was nacked): the outbox goes out in order,
	// then the dispatch messages; the run is known, so no second run.requested.
	b.bus.failAppend["run.queued"] = false
	require.NoError(t, b.s.Submit(b.ctx, submit))
	require.Equal(t, []string{"run.requested r1", "run.queued r1", "run.dispatched r1", "run.requested r2", "run.queued r2", "run.dispatched r2"}, b.bus.types())
	require.Len(t, b.bus.dispatches, 2)

	// Past the resend window, decisions that could not be stored make the
	// state suspect: the service rebuilds it from the log.
	b.bus.failAppend["run.requested"] = true
	require.ErrorIs(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r3", Spec: spec("c")}), errDown)
	*b.clock = b.clock.Add(91 * time.Second)
	require.ErrorIs(t, b.s.Tick(b.ctx), command.ErrStateSuspect)
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
	require.Equal(t, runs.DefaultMaxRetries, b.bus.dispatches[0].RetriesLeft)

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
	// The command, delivered again, waits for the end without a second cancel.
	require.ErrorIs(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r1", Reason: "stop"}), command.ErrCancelPending)
	require.Len(t, b.bus.cancels, 1)
	// The attempt fails retryably instead of ending canceled: no retry, a cancel.
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Seq: 10, Payload: &events.RunFailed{RunID: "r1", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}}))
	last = b.bus.appended[len(b.bus.appended)-1]
	require.Equal(t, &events.RunCanceled{RunID: "r1", Attempt: 2, Reason: "stop"}, last, "the failed attempt is abandoned: the cancel ends the next")

	// Finished or unknown: nothing.
	n := len(b.bus.appended)
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r2"}))
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "nobody"}))
	require.NoError(t, b.s.Cancel(b.ctx, commands.CancelRun{RunID: "r1"}))
	require.Len(t, b.bus.appended, n)
	require.Len(t, b.bus.cancels, 1)
}

func TestNothingIsDecidedDuringReplay(t *testing.T) {
	t.Parallel()
	bus := &recordingBus{}
	s, err := command.New(command.Config{Limits: limits, Policy: queue.DefaultPolicy(), ResendWindow: time.Minute}, bus, nopMetrics{}, testenv.Logger(t))
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, s.OnEvent(ctx, command.Event{Seq: 1, Payload: &events.RunRequested{RunID: "r1", Spec: spec("a")}}))
	require.ErrorIs(t, s.Submit(ctx, commands.SubmitRun{RunID: "r1", Spec: spec("a")}), command.ErrNotLeader)
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

// An attempt that no runner reports by its deadline (a dispatch nobody took,
// a runner gone unnoticed) is failed by the scheduler after the grace, and
// retried when the request asks for retries on timeout.
func TestAnOverdueAttemptIsFailedByTheScheduler(t *testing.T) {
	t.Parallel()
	b := setup(t, limits)
	s := spec("a")
	s.TimeoutSeconds = new(int)
	*s.TimeoutSeconds = 10
	s.RetryOnTimeout = new(bool)
	*s.RetryOnTimeout = true
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r", Spec: s}))
	require.Len(t, b.bus.dispatches, 1)
	grace := queue.DefaultPolicy().DeadlineGrace
	require.Equal(t, b.clock.Add(10*time.Second+grace+time.Millisecond), b.s.NextWake())
	*b.clock = b.clock.Add(10*time.Second + grace)
	require.NoError(t, b.s.Tick(b.ctx))
	require.Equal(t, []string{"run.requested r", "run.queued r", "run.dispatched r"}, b.bus.types(), "not before the grace is over")
	*b.clock = b.clock.Add(time.Second)
	require.NoError(t, b.s.Tick(b.ctx))
	types := b.bus.types()
	require.Equal(t, []string{"run.failed r", "run.retry_scheduled r"}, types[3:5])
	f := b.bus.appended[3].(*events.RunFailed)
	require.Equal(t, runs.ReasonTimeout, f.Reason)
	require.True(t, f.Retryable)
}

// A runner silent for three heartbeats is lost; its started attempts fail
// with runner_lost unless the run's log moved since the scheduler read it.
func TestALostRunnerFailsItsAttempts(t *testing.T) {
	t.Parallel()
	b := setup(t, limits)
	require.NoError(t, b.s.Submit(b.ctx, commands.SubmitRun{RunID: "r", Spec: spec("a")}))
	require.NoError(t, b.s.OnEvent(b.ctx, command.Event{Seq: 4, Time: *b.clock, Payload: &events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w"}}))
	b.s.RunnerSeen("w", *b.clock, time.Second)
	*b.clock = b.clock.Add(3 * time.Second)
	require.NoError(t, b.s.Tick(b.ctx))
	require.Len(t, b.bus.appended, 3, "three heartbeats are not missed yet")
	*b.clock = b.clock.Add(time.Millisecond)
	require.NoError(t, b.s.Tick(b.ctx))
	types := b.bus.types()
	require.Equal(t, []string{"runner.lost w", "run.failed r", "run.retry_scheduled r"}, types[3:6])
	require.Equal(t, command.Condition{Subject: "phantom.events.run.r.>", Seq: 4}, b.bus.conds[0], "conditional on the run's log")
	lost := b.bus.appended[3].(*events.RunnerLost)
	require.Equal(t, []string{"r"}, lost.Runs)
}
