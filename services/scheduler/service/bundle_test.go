package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// wait bounds every wait in these tests.
const wait = 15 * time.Second

type testBundle struct {
	t    testing.TB
	ctx  context.Context
	nats *testenv.NATS
	// gateway and runner publish as the services the scheduler talks to.
	gateway *bus.Publisher
	runner  *bus.Publisher
	// sched publishes as a scheduler would have, to stage a log left by a
	// scheduler that stopped half way.
	sched *bus.Publisher
	// taken are dispatch messages a runner consumed (see take).
	taken []sent
	// beating are the runners whose heartbeat the bundle writes.
	beating map[string]context.CancelFunc
	// quiet drops the schedulers' logs (benchmarks: formatting debug logs
	// would be measured too).
	quiet bool
}

func setup(t testing.TB) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	return &testBundle{
		t: t, ctx: ctx, nats: n,
		gateway: bus.NewPublisher(n.JS, "phantom/gateway/test"),
		runner:  bus.NewPublisher(n.JS, "phantom/runner/test"),
		sched:   bus.NewPublisher(n.JS, "phantom/scheduler/earlier"),
		beating: map[string]context.CancelFunc{},
	}
}

// heartbeatEvery is the fake runners' heartbeat interval.
const heartbeatEvery = 200 * time.Millisecond

// alive writes runner's entry in phantom_runners every heartbeatEvery, as a
// live runner does, until the test ends or silence(runner).
func (b *testBundle) alive(runner string) {
	b.t.Helper()
	if _, ok := b.beating[runner]; ok {
		return
	}
	kv, err := b.nats.JS.KeyValue(b.ctx, streams.RunnersBucket)
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	b.beating[runner] = cancel
	b.t.Cleanup(cancel)
	put := func() error {
		data, _ := json.Marshal(streams.RunnerEntry{RunnerID: runner, Host: "h", Pool: runs.DefaultPool, Slots: 4,
			HeartbeatMs: heartbeatEvery.Milliseconds(), Updated: time.Now().UTC()})
		_, err := kv.Put(ctx, runner, data)
		return err
	}
	require.NoError(b.t, put())
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = put()
			}
		}
	}()
}

// silence stops a runner's heartbeat, as a killed runner does.
func (b *testBundle) silence(runner string) {
	if cancel, ok := b.beating[runner]; ok {
		cancel()
	}
}

func testConfig() Config {
	c := DefaultConfig()
	c.CommandRetryDelay = 50 * time.Millisecond
	c.RetryInterval = 50 * time.Millisecond
	c.PublishTimeout = 5 * time.Second
	c.CommandAckWait = 10 * time.Second
	c.ReplayTimeout = 30 * time.Second
	return c
}

// instance is one running scheduler.
type instance struct {
	svc    *Service
	reg    *prometheus.Registry
	checks *opshttp.Checks
	cancel context.CancelFunc
	done   chan error
	nc     *nats.Conn
}

// start builds and runs a scheduler on the bundle's server and waits until
// it is ready (queue rebuilt, commands consumed).
func (b *testBundle) start(cfg Config) *instance {
	b.t.Helper()
	nc, js := b.nats.Connect(b.t)
	reg := prometheus.NewRegistry()
	checks := opshttp.NewChecks()
	log := testenv.Logger(b.t).With("service", Name)
	if b.quiet {
		log = slog.New(slog.DiscardHandler)
	}
	env := daemon.Env{
		Name: Name, Instance: daemon.NewInstanceID(), Logger: log,
		Conn: nc, JS: js, Metrics: reg, Checks: checks, Streams: streams.DefaultOptions(),
	}
	svc, err := New(b.ctx, cfg, env)
	require.NoError(b.t, err)
	require.NotEmpty(b.t, checks.Run(b.ctx), "not ready before Run")
	ctx, cancel := context.WithCancel(b.ctx)
	in := &instance{svc: svc, reg: reg, checks: checks, cancel: cancel, done: make(chan error, 1), nc: nc}
	go func() { in.done <- svc.Run(ctx) }()
	b.t.Cleanup(func() { in.stop(b.t) })
	require.Eventually(b.t, func() bool { return len(checks.Run(b.ctx)) == 0 }, wait, 10*time.Millisecond, "scheduler never ready")
	return in
}

// startLeader starts an instance and waits until it leads.
func (b *testBundle) startLeader(cfg Config) *instance {
	b.t.Helper()
	in := b.start(cfg)
	require.Eventually(b.t, in.svc.Leading, wait, 10*time.Millisecond, "the scheduler never became active")
	return in
}

// kill ends an instance as a crash does: its connection drops first, so it
// neither releases its lease nor publishes anything more.
func (in *instance) kill(t testing.TB) {
	t.Helper()
	in.nc.Close()
	in.cancel()
	select {
	case <-in.done:
		close(in.done)
	case <-time.After(wait):
		t.Fatal("a killed scheduler did not return")
	}
}

// stop ends Run and checks it drained without error. Stopping twice is fine.
func (in *instance) stop(t testing.TB) {
	t.Helper()
	in.cancel()
	select {
	case err, ok := <-in.done:
		if ok {
			require.NoError(t, err)
			close(in.done)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return within the wait after its context ended")
	}
}

func (in *instance) snapshot(t testing.TB) queue.Snapshot {
	t.Helper()
	s, ok := in.svc.Snapshot()
	require.True(t, ok, "the scheduler has no queue yet")
	return s
}

func (in *instance) metric(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := in.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if !labelsMatch(m, labels) {
				continue
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

func labelsMatch(m *dto.Metric, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == kv[i] && l.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func spec(agent string) runs.Spec {
	return runs.Spec{Agent: agent, Prompt: "do it", Workspace: "/src/project"}
}

// submit publishes a submit as the gateway does.
func (b *testBundle) submit(runID string, s runs.Spec) {
	b.t.Helper()
	_, err := b.gateway.Command(b.ctx, commands.SubmitRun{RunID: runID, Spec: s, RequestedBy: "tester"}, bus.WithID("submit-"+runID))
	require.NoError(b.t, err)
}

func (b *testBundle) cancel(runID string) {
	b.t.Helper()
	_, err := b.gateway.Command(b.ctx, commands.CancelRun{RunID: runID, Reason: "changed my mind", By: "tester"})
	require.NoError(b.t, err)
}

// runnerEvent appends an event as a runner does; a runner that starts a
// run heartbeats from then on.
func (b *testBundle) runnerEvent(ev events.Payload, attempt int) {
	b.t.Helper()
	if st, ok := ev.(*events.RunStarted); ok {
		b.alive(st.RunnerID)
	}
	_, err := b.runner.Event(b.ctx, ev, bus.WithAttempt(attempt))
	require.NoError(b.t, err)
}

// start and complete attempt 1 of a run on runner w.
func (b *testBundle) runAndComplete(runID, runner string) {
	b.t.Helper()
	b.runnerEvent(&events.RunStarted{RunID: runID, Attempt: 1, RunnerID: runner, Host: "h"}, 1)
	b.runnerEvent(&events.RunCompleted{RunID: runID, Attempt: 1}, 1)
}

type logged struct {
	Seq     uint64
	ID      string
	Type    string
	RunID   string
	Payload events.Payload
}

// stored reads every message a stream holds, in order. It returns errors
// rather than failing the test, as it runs inside require.Eventually.
func (b *testBundle) stored(stream string, filter func(subject string) bool) ([]*jetstream.RawStreamMsg, error) {
	s, err := b.nats.JS.Stream(b.ctx, stream)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(b.ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil, err
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := s.GetMsg(b.ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if filter == nil || filter(m.Subject) {
			out = append(out, m)
		}
	}
	return out, nil
}

// readEvents returns the run events in the log, optionally of one run.
func (b *testBundle) readEvents(runID string) ([]logged, error) {
	msgs, err := b.stored(streams.Events, nil)
	if err != nil {
		return nil, err
	}
	var out []logged
	for _, m := range msgs {
		env, err := envelope.FromHeader(m.Header, m.Data)
		if err != nil {
			return nil, err
		}
		p, err := events.Decode(env.Type, env.Data)
		if err != nil {
			return nil, err
		}
		id, ok := events.RunIDOf(p)
		if !ok || (runID != "" && id != runID) {
			continue
		}
		out = append(out, logged{Seq: m.Sequence, ID: env.ID, Type: env.Type, RunID: id, Payload: p})
	}
	return out, nil
}

func (b *testBundle) events(runID string) []logged {
	b.t.Helper()
	evs, err := b.readEvents(runID)
	require.NoError(b.t, err)
	return evs
}

func types(evs []logged) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

// eventsOf waits until the run's events are exactly want (by type) and returns them.
func (b *testBundle) eventsOf(runID string, want ...string) []logged {
	b.t.Helper()
	var got []logged
	require.Eventually(b.t, func() bool {
		var err error
		got, err = b.readEvents(runID)
		return err == nil && fmt.Sprint(types(got)) == fmt.Sprint(want)
	}, wait, 10*time.Millisecond, "events of %s: want %v", runID, want)
	return got
}

type sent struct {
	ID       string
	Subject  string
	Dispatch commands.Dispatch
}

// readDispatches returns the dispatch messages stored in PHANTOM_DISPATCH
// (no runner consumes them in these tests).
func (b *testBundle) readDispatches() ([]sent, error) {
	msgs, err := b.stored(streams.Dispatch, nil)
	if err != nil {
		return nil, err
	}
	out := append([]sent(nil), b.taken...)
	for _, m := range msgs {
		var d commands.Dispatch
		if err := json.Unmarshal(m.Data, &d); err != nil {
			return nil, err
		}
		if got := m.Header.Get(envelope.HeaderType); got != commands.DispatchType {
			return nil, fmt.Errorf("dispatch message of type %q", got)
		}
		out = append(out, sent{ID: m.Header.Get(envelope.HeaderID), Subject: m.Subject, Dispatch: d})
	}
	return out, nil
}

// take consumes every dispatch message of the default pool as its runners
// would (the work queue then drops them); they still count in dispatches.
func (b *testBundle) take() {
	b.t.Helper()
	c, err := bus.EnsureConsumer(b.ctx, b.nats.JS, streams.Dispatch, jetstream.ConsumerConfig{
		Durable: "runners-" + runs.DefaultPool, FilterSubject: subjects.Dispatch(runs.DefaultPool),
	})
	require.NoError(b.t, err)
	for {
		batch, err := c.FetchNoWait(10)
		require.NoError(b.t, err)
		n := 0
		for m := range batch.Messages() {
			n++
			var d commands.Dispatch
			require.NoError(b.t, json.Unmarshal(m.Data(), &d))
			b.taken = append(b.taken, sent{ID: m.Headers().Get(envelope.HeaderID), Subject: m.Subject(), Dispatch: d})
			require.NoError(b.t, m.DoubleAck(b.ctx))
		}
		require.NoError(b.t, batch.Error())
		if n == 0 {
			return
		}
	}
}

func (b *testBundle) dispatches() []sent {
	b.t.Helper()
	ds, err := b.readDispatches()
	require.NoError(b.t, err)
	return ds
}

func dispatchedRuns(ds []sent) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Dispatch.RunID
	}
	return out
}

// waitDispatched waits until the dispatch messages are exactly for runs, in order.
func (b *testBundle) waitDispatched(runs ...string) []sent {
	b.t.Helper()
	var got []sent
	require.Eventually(b.t, func() bool {
		var err error
		got, err = b.readDispatches()
		return err == nil && fmt.Sprint(dispatchedRuns(got)) == fmt.Sprint(runs)
	}, wait, 10*time.Millisecond, "dispatches: want %v", runs)
	return got
}

// readRunnerCancels returns the cancels sent to one runner.
func (b *testBundle) readRunnerCancels(runnerID string) ([]commands.RunnerCancel, error) {
	subject := subjects.RunnerCommand(runnerID, commands.VerbCancel)
	msgs, err := b.stored(streams.Commands, func(s string) bool { return s == subject })
	if err != nil {
		return nil, err
	}
	var out []commands.RunnerCancel
	for _, m := range msgs {
		var c commands.RunnerCancel
		if err := json.Unmarshal(m.Data, &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func (b *testBundle) runnerCancels(runnerID string) []commands.RunnerCancel {
	b.t.Helper()
	cs, err := b.readRunnerCancels(runnerID)
	require.NoError(b.t, err)
	return cs
}

// cancelsOf waits until runnerID has received n cancels and returns them.
func (b *testBundle) cancelsOf(runnerID string, n int) []commands.RunnerCancel {
	b.t.Helper()
	var got []commands.RunnerCancel
	require.Eventually(b.t, func() bool {
		var err error
		got, err = b.readRunnerCancels(runnerID)
		return err == nil && len(got) == n
	}, wait, 10*time.Millisecond, "cancels to %s: want %d", runnerID, n)
	return got
}

// countPerAttempt counts run.dispatched events and dispatch messages per
// run and attempt.
func (b *testBundle) countPerAttempt() (evs, msgs map[string]int) {
	b.t.Helper()
	evs, msgs = map[string]int{}, map[string]int{}
	for _, e := range b.events("") {
		if d, ok := e.Payload.(*events.RunDispatched); ok {
			evs[command.DispatchID(d.RunID, d.Attempt)]++
		}
	}
	for _, d := range b.dispatches() {
		msgs[command.DispatchID(d.Dispatch.RunID, d.Dispatch.Attempt)]++
	}
	return evs, msgs
}

func (b *testBundle) requireOncePerAttempt() {
	b.t.Helper()
	evs, msgs := b.countPerAttempt()
	for k, n := range evs {
		require.Equal(b.t, 1, n, "run.dispatched events for %s", k)
	}
	for k, n := range msgs {
		require.Equal(b.t, 1, n, "dispatch messages for %s", k)
	}
}
