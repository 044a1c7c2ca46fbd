package service

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

func intp(i int) *int { return &i }

func TestSubmitIsRequestedQueuedAndDispatched(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.start(testConfig())

	s := spec("claude")
	s.Pool = "gpu"
	s.Priority = intp(3)
	s.TimeoutSeconds = intp(600)
	b.submit("run-1", s)
	evs := b.eventsOf("run-1", "run.requested", "run.queued", "run.dispatched")

	req := evs[0].Payload.(*events.RunRequested)
	require.Equal(t, s, req.Spec, "run.requested carries the full spec")
	require.Equal(t, "tester", req.RequestedBy)
	require.Equal(t, &events.RunQueued{RunID: "run-1", Attempt: 1, Priority: 3, Provider: "claude", Pool: "gpu", Position: 1}, evs[1].Payload)
	disp := evs[2].Payload.(*events.RunDispatched)
	require.Equal(t, 1, disp.Attempt)
	require.Equal(t, "gpu", disp.Pool)
	require.Equal(t, "claude", disp.Provider)
	require.NotNil(t, disp.Deadline)

	ds := b.waitDispatched("run-1")
	d := ds[0]
	require.Equal(t, subjects.Dispatch("gpu"), d.Subject)
	require.Equal(t, "dispatch-run-1-1", d.ID)
	require.Equal(t, 1, d.Dispatch.Attempt)
	require.Equal(t, s, d.Dispatch.Spec)
	require.Equal(t, "claude", d.Dispatch.Provider)
	require.Equal(t, runs.DefaultMaxRetries, d.Dispatch.RetriesLeft)
	require.NotNil(t, d.Dispatch.Deadline)
	require.True(t, disp.Deadline.Equal(*d.Dispatch.Deadline), "the event and the message carry the same deadline")
	require.WithinDuration(t, time.Now().Add(600*time.Second), *d.Dispatch.Deadline, 30*time.Second)

	// The same submit again (a redelivery that escaped deduplication): nothing new.
	_, err := b.gateway.Command(b.ctx, commands.SubmitRun{RunID: "run-1", Spec: s}, bus.WithID("submit-run-1-again"))
	require.NoError(t, err)
	b.submit("run-2", spec("codex"))
	b.eventsOf("run-2", "run.requested", "run.queued", "run.dispatched")
	b.eventsOf("run-1", "run.requested", "run.queued", "run.dispatched")
	b.waitDispatched("run-1", "run-2")

	require.Equal(t, 2.0, in.metric(t, "phantom_scheduler_dispatches_total"))
	require.Equal(t, 2.0, in.metric(t, "phantom_scheduler_running"))
	require.Equal(t, 0.0, in.metric(t, "phantom_scheduler_queue_depth"))
	require.Positive(t, in.metric(t, "phantom_scheduler_event_apply_seconds"))

	// The durable consumer the card names, on the scheduler's subjects.
	c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, ConsumerName)
	require.NoError(t, err)
	info, err := c.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, "phantom.cmd.scheduler.>", info.Config.FilterSubject)
}

func TestLimitsHoldAndCompletionsReleaseInFIFOOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.start(testConfig()) // 2 overall, 1 per provider

	agents := []string{"claude", "claude", "codex", "claude", "codex"}
	provider := map[string]string{}
	for i, a := range agents {
		id := fmt.Sprintf("r%d", i)
		provider[id] = a
		b.submit(id, spec(a))
	}
	b.waitDispatched("r0", "r2")
	for _, id := range []string{"r1", "r3", "r4"} {
		b.eventsOf(id, "run.requested", "run.queued")
	}
	require.Equal(t, 3.0, in.metric(t, "phantom_scheduler_queue_depth"))
	require.Equal(t, 2.0, in.metric(t, "phantom_scheduler_running"))

	// Each completion frees one slot of one provider: the next run of that
	// provider in FIFO order goes.
	b.runAndComplete("r0", "w-1")
	b.waitDispatched("r0", "r2", "r1")
	b.runAndComplete("r2", "w-2")
	b.waitDispatched("r0", "r2", "r1", "r4")
	b.runAndComplete("r1", "w-1")
	b.waitDispatched("r0", "r2", "r1", "r4", "r3")
	b.runAndComplete("r4", "w-2")
	b.runAndComplete("r3", "w-1")
	require.Eventually(t, func() bool { return in.metric(t, "phantom_scheduler_running") == 0 }, wait, 10*time.Millisecond)

	// Along the whole log, never more than the limits held a slot.
	active := map[string]bool{}
	maxTotal := 0
	for _, e := range b.events("") {
		switch e.Payload.(type) {
		case *events.RunDispatched:
			active[e.RunID] = true
		case *events.RunCompleted:
			delete(active, e.RunID)
		}
		perProvider := map[string]int{}
		for id := range active {
			perProvider[provider[id]]++
			require.LessOrEqual(t, perProvider[provider[id]], 1, "per-provider limit at seq %d", e.Seq)
		}
		require.LessOrEqual(t, len(active), 2, "global limit at seq %d", e.Seq)
		maxTotal = max(maxTotal, len(active))
	}
	require.Equal(t, 2, maxTotal)
	b.requireOncePerAttempt()
}

func TestCapacityRejectsQueueFull(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig()
	cfg.MaxRunning, cfg.Capacity = 1, 3
	in := b.start(cfg)

	// One run holds the only slot; three fill the queue; the fourth is refused.
	b.submit("busy", spec("claude"))
	b.waitDispatched("busy")
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("q%d", i)
		b.submit(id, spec(fmt.Sprintf("agent%d", i)))
		evs := b.eventsOf(id, "run.requested", "run.queued")
		require.Equal(t, i, evs[1].Payload.(*events.RunQueued).Position)
	}
	b.submit("q4", spec("agent4"))
	evs := b.eventsOf("q4", "run.requested", "run.rejected")
	rej := evs[1].Payload.(*events.RunRejected)
	require.Equal(t, runs.ReasonQueueFull, rej.Reason)
	require.Empty(t, rej.Field)
	require.Contains(t, rej.Message, "capacity")
	require.Equal(t, 1.0, in.metric(t, "phantom_scheduler_rejections_total", "reason", runs.ReasonQueueFull))
	require.Equal(t, 3.0, in.metric(t, "phantom_scheduler_queue_depth"))

	// A freed place takes a new run again.
	b.runAndComplete("busy", "w-1")
	b.waitDispatched("busy", "q1")
	b.submit("q5", spec("agent5"))
	b.eventsOf("q5", "run.requested", "run.queued")
}

func TestInvalidSpecIsRejectedWithTheField(t *testing.T) {
	t.Parallel()
	b := setup(t)
	in := b.start(testConfig())
	with := func(f func(*runs.Spec)) runs.Spec { s := spec("claude"); f(&s); return s }
	cases := []struct {
		spec  runs.Spec
		field string
	}{
		{with(func(s *runs.Spec) { s.Priority = intp(11) }), "priority"},
		{with(func(s *runs.Spec) { s.Workspace = "" }), "workspace"},
		{with(func(s *runs.Spec) { s.Agent = "" }), "agent"},
		{with(func(s *runs.Spec) { s.Pool = "gpu.>" }), "pool"},
		{with(func(s *runs.Spec) { s.TimeoutSeconds = intp(3) }), "timeoutSeconds"},
	}
	for i, tc := range cases {
		id := fmt.Sprintf("bad%d", i)
		b.submit(id, tc.spec)
		evs := b.eventsOf(id, "run.requested", "run.rejected")
		require.Equal(t, tc.spec, evs[0].Payload.(*events.RunRequested).Spec, "the invalid request is recorded as sent")
		rej := evs[1].Payload.(*events.RunRejected)
		require.Equal(t, runs.ReasonInvalidRequest, rej.Reason)
		require.Equal(t, tc.field, rej.Field)
		require.NotEmpty(t, rej.Message)
	}
	// A valid run after them is dispatched, and it is the only dispatch.
	b.submit("good", spec("claude"))
	b.waitDispatched("good")
	require.Equal(t, float64(len(cases)), in.metric(t, "phantom_scheduler_rejections_total", "reason", runs.ReasonInvalidRequest))
}

func TestCancelQueuedRunIsNeverDispatched(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig()
	cfg.MaxRunning = 1
	b.start(cfg)

	b.submit("first", spec("claude"))
	b.submit("victim", spec("codex"))
	b.waitDispatched("first")
	b.eventsOf("victim", "run.requested", "run.queued")
	b.cancel("victim")
	evs := b.eventsOf("victim", "run.requested", "run.queued", "run.canceled")
	require.Equal(t, &events.RunCanceled{RunID: "victim", Attempt: 1, Reason: "changed my mind", By: "tester"}, evs[2].Payload)

	// The slot frees; the next run in line is the one after the victim.
	b.submit("next", spec("gemini"))
	b.eventsOf("next", "run.requested", "run.queued")
	b.runAndComplete("first", "w-1")
	b.waitDispatched("first", "next")
	b.eventsOf("victim", "run.requested", "run.queued", "run.canceled")

	// A cancel of a finished or unknown run changes nothing.
	b.cancel("victim")
	b.cancel("nobody")
	b.submit("last", spec("claude"))
	b.eventsOf("last", "run.requested", "run.queued")
	b.eventsOf("victim", "run.requested", "run.queued", "run.canceled")
	require.Empty(t, b.events("nobody"))
}

func TestCancelRunningGoesToItsRunner(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(testConfig())

	b.submit("running", spec("claude"))
	b.submit("not-started", spec("codex"))
	b.waitDispatched("running", "not-started")
	b.runnerEvent(&events.RunStarted{RunID: "running", Attempt: 1, RunnerID: "w-1", Host: "h1"}, 1)
	b.eventsOf("running", "run.requested", "run.queued", "run.dispatched", "run.started")

	b.cancel("running")
	require.Equal(t, []commands.RunnerCancel{{RunnerID: "w-1", RunID: "running", Attempt: 1, Reason: "changed my mind", By: "tester"}}, b.cancelsOf("w-1", 1))

	// Dispatched, not started: the cancel waits for run.started, then goes to
	// the runner that started it. The slot stays held meanwhile.
	b.cancel("not-started")
	b.submit("waiting", spec("gemini"))
	b.eventsOf("waiting", "run.requested", "run.queued")
	b.runnerEvent(&events.RunStarted{RunID: "not-started", Attempt: 1, RunnerID: "w-2", Host: "h2"}, 1)
	require.Equal(t, "not-started", b.cancelsOf("w-2", 1)[0].RunID)
	require.Len(t, b.runnerCancels("w-1"), 1, "only the right runner hears of it")

	// The runners report the cancels; the freed slot goes to the next run.
	b.runnerEvent(&events.RunCanceled{RunID: "running", Attempt: 1, Reason: "canceled"}, 1)
	b.waitDispatched("running", "not-started", "waiting")
	b.runnerEvent(&events.RunCanceled{RunID: "not-started", Attempt: 1, Reason: "canceled"}, 1)

	// The command consumer ends up with nothing pending: the deferred cancel was acked.
	require.Eventually(t, func() bool {
		c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, ConsumerName)
		if err != nil {
			return false
		}
		info, err := c.Info(b.ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0
	}, wait, 20*time.Millisecond)
}

func TestRestartRebuildsTheSameQueueAndDispatchesNothingTwice(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.start(testConfig())

	for i, a := range []string{"claude", "claude", "codex", "codex", "gemini"} {
		b.submit(fmt.Sprintf("r%d", i), spec(a))
	}
	b.waitDispatched("r0", "r2")
	for _, id := range []string{"r1", "r3", "r4"} {
		b.eventsOf(id, "run.requested", "run.queued")
	}
	b.runnerEvent(&events.RunStarted{RunID: "r0", Attempt: 1, RunnerID: "w-1", Host: "h1"}, 1)
	// r2 is dispatched and not started: its cancel must survive the restart.
	b.cancel("r2")
	require.Eventually(t, func() bool {
		s := first.snapshot(t)
		return len(s.Active) == 2 && s.Active[0].RunnerID == "w-1"
	}, wait, 10*time.Millisecond)
	before := first.snapshot(t)
	require.Equal(t, []string{"r1", "r3", "r4"}, queuedIDs(before))
	// A runner took both dispatch messages (r2's is being prepared).
	b.take()
	require.Len(t, b.taken, 2)
	first.stop(t)

	// Core NATS sees every publish, duplicates included: it shows the resend.
	wire, err := b.nats.Conn.SubscribeSync(subjects.Dispatch(runs.DefaultPool))
	require.NoError(t, err)
	second := b.start(testConfig())
	resent, err := wire.NextMsg(wait)
	require.NoError(t, err)
	require.Equal(t, "dispatch-r2-1", resent.Header.Get(envelope.HeaderID), "the dispatched, unstarted attempt's message is sent again")
	require.NoError(t, wire.Unsubscribe())
	require.Equal(t, before, second.snapshot(t), "the rebuilt queue equals the one before")
	require.Equal(t, 3.0, second.metric(t, "phantom_scheduler_queue_depth"))
	require.Equal(t, 2.0, second.metric(t, "phantom_scheduler_running"))
	require.Zero(t, second.metric(t, "phantom_scheduler_dispatches_total"), "the restart dispatched nothing")

	// The cancel remembered across the restart reaches the runner once r2 starts.
	b.runnerEvent(&events.RunStarted{RunID: "r2", Attempt: 1, RunnerID: "w-2", Host: "h2"}, 1)
	require.Equal(t, "r2", b.cancelsOf("w-2", 1)[0].RunID)
	b.runnerEvent(&events.RunCanceled{RunID: "r2", Attempt: 1, Reason: "canceled"}, 1)
	b.waitDispatched("r0", "r2", "r3")
	// r3 ends: r1 (claude) waits for r0's provider slot, so r4 (gemini) goes.
	b.runAndComplete("r3", "w-2")
	b.waitDispatched("r0", "r2", "r3", "r4")
	b.runnerEvent(&events.RunCompleted{RunID: "r0", Attempt: 1}, 1)
	b.waitDispatched("r0", "r2", "r3", "r4", "r1")
	b.requireOncePerAttempt()
	evs, msgs := b.countPerAttempt()
	require.Len(t, evs, 5)
	require.Equal(t, evs, msgs)
	// r2's message, sent again by the new instance after a runner had
	// consumed it, was dropped by the stream's deduplication: five messages
	// were ever stored.
	ds, err := b.nats.JS.Stream(b.ctx, streams.Dispatch)
	require.NoError(t, err)
	info, err := ds.Info(b.ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(5), info.State.LastSeq)
}

func queuedIDs(s queue.Snapshot) []string {
	out := make([]string, len(s.Queued))
	for i, e := range s.Queued {
		out[i] = e.RunID
	}
	return out
}

// A scheduler that stopped half way left: a run requested and not decided,
// one queued and not dispatched, one dispatched whose message was never sent,
// one dispatched too long ago to resend safely. The next one finishes each,
// once.
func TestRestartFinishesWhatWasLeftUndone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	stage := func(ev events.Payload, attempt int, opts ...bus.MsgOption) {
		t.Helper()
		_, err := b.sched.Event(b.ctx, ev, append(opts, bus.WithAttempt(attempt))...)
		require.NoError(t, err)
	}
	requested := func(id, agent string) {
		stage(&events.RunRequested{RunID: id, Spec: spec(agent)}, 0)
	}
	queued := func(id, agent string, pos int) {
		stage(&events.RunQueued{RunID: id, Attempt: 1, Provider: agent, Pool: runs.DefaultPool, Position: pos}, 1)
	}
	dispatched := func(id, agent string, at time.Time) {
		stage(&events.RunDispatched{RunID: id, Attempt: 1, Provider: agent, Pool: runs.DefaultPool}, 1, bus.WithTime(at))
	}
	requested("done", "a0")
	queued("done", "a0", 1)
	dispatched("done", "a0", time.Now().Add(-time.Hour))
	b.runAndComplete("done", "w-0")
	requested("stale", "a1")
	queued("stale", "a1", 1)
	dispatched("stale", "a1", time.Now().Add(-10*time.Minute))
	requested("unsent", "a2")
	queued("unsent", "a2", 2)
	dispatched("unsent", "a2", time.Now())
	requested("waiting", "a3")
	queued("waiting", "a3", 2)
	requested("undecided", "a4")

	cfg := testConfig()
	cfg.MaxRunning = 10
	b.start(cfg)
	b.eventsOf("undecided", "run.requested", "run.queued", "run.dispatched")
	b.eventsOf("waiting", "run.requested", "run.queued", "run.dispatched")
	b.eventsOf("unsent", "run.requested", "run.queued", "run.dispatched")
	got := b.waitDispatched("unsent", "waiting", "undecided")
	require.Equal(t, "dispatch-unsent-1", got[0].ID)
	b.eventsOf("stale", "run.requested", "run.queued", "run.dispatched")
	b.requireOncePerAttempt()
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	t.Parallel()
	require.NoError(t, DefaultConfig().Validate())
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) { c.MaxRunning = 0 }, "PHANTOM_SCHEDULER_MAX_RUNNING 0 must be in 1..=10000"},
		{func(c *Config) { c.MaxPerProvider = 0 }, "PHANTOM_SCHEDULER_MAX_PER_PROVIDER 0 must be in 1..=10000"},
		{func(c *Config) { c.Capacity = -1 }, "PHANTOM_SCHEDULER_CAPACITY -1 must be in 1..=1000000"},
		{func(c *Config) { c.RetryInterval = 0 }, "PHANTOM_SCHEDULER_RETRY_INTERVAL 0s must be in 10ms..=1m0s"},
		{func(c *Config) { c.CommandAckWait = c.PublishTimeout }, "PHANTOM_SCHEDULER_COMMAND_ACK_WAIT 30s must be more than"},
	} {
		c := DefaultConfig()
		tc.mut(&c)
		require.ErrorContains(t, c.Validate(), tc.want)
	}
}

func TestMalformedCommandsAreDroppedAndTheNextIsHandled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(testConfig())
	submitSubject := commands.SubmitRun{}.Subject()

	// No CloudEvents headers at all.
	_, err := b.nats.JS.Publish(b.ctx, submitSubject, []byte(`{"runId":"x"}`))
	require.NoError(t, err)
	// A submit whose body is not JSON.
	env, err := b.gateway.NewEnvelope(b.ctx, commands.SubmitRun{}.CommandType(), "", nil)
	require.NoError(t, err)
	env.Data = []byte("{")
	_, err = b.gateway.PublishMsg(b.ctx, env.Msg(submitSubject))
	require.NoError(t, err)
	// A command type the scheduler does not know.
	env, err = b.gateway.NewEnvelope(b.ctx, "command.scheduler.reboot", "", map[string]string{})
	require.NoError(t, err)
	_, err = b.gateway.PublishMsg(b.ctx, env.Msg(subjects.Command(commands.ServiceScheduler, "reboot")))
	require.NoError(t, err)
	// A run id no subject can carry.
	_, err = b.gateway.Command(b.ctx, commands.SubmitRun{RunID: "a.b", Spec: spec("claude")})
	require.NoError(t, err)

	b.submit("fine", spec("claude"))
	b.waitDispatched("fine")
	runsSeen := map[string]bool{}
	for _, e := range b.events("") {
		runsSeen[e.RunID] = true
	}
	require.Equal(t, map[string]bool{"fine": true}, runsSeen)
	require.Eventually(t, func() bool {
		c, err := b.nats.JS.Consumer(b.ctx, streams.Commands, ConsumerName)
		if err != nil {
			return false
		}
		info, err := c.Info(b.ctx)
		return err == nil && info.NumAckPending == 0 && info.NumPending == 0 && info.NumRedelivered == 0
	}, wait, 20*time.Millisecond, "every bad command was settled once, none is redelivered")
}

// A long log replays quickly and to the right state: 1000 finished runs, one
// still queued, and the output chunks a real log is mostly made of (which
// the replay's filter leaves on the server).
func TestReplayOfALongLog(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const finished = 1000
	var pending []jetstream.PubAckFuture
	stage := func(p *bus.Publisher, ev events.Payload, attempt int) {
		msg, _, err := p.EventMsg(b.ctx, ev, bus.WithAttempt(attempt))
		require.NoError(t, err)
		f, err := b.nats.JS.PublishMsgAsync(msg)
		require.NoError(t, err)
		pending = append(pending, f)
	}
	for i := range finished {
		id := fmt.Sprintf("old%04d", i)
		stage(b.sched, &events.RunRequested{RunID: id, Spec: spec("claude")}, 0)
		stage(b.sched, &events.RunQueued{RunID: id, Attempt: 1, Provider: "claude", Pool: runs.DefaultPool, Position: 1}, 1)
		stage(b.sched, &events.RunDispatched{RunID: id, Attempt: 1, Provider: "claude", Pool: runs.DefaultPool}, 1)
		stage(b.runner, &events.RunStarted{RunID: id, Attempt: 1, RunnerID: "w-1"}, 1)
		for c := range 5 {
			stage(b.runner, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: int64(c + 1), Data: "some output\n", Lines: 1}}, 1)
		}
		stage(b.runner, &events.RunCompleted{RunID: id, Attempt: 1}, 1)
	}
	stage(b.sched, &events.RunRequested{RunID: "left", Spec: spec("codex")}, 0)
	stage(b.sched, &events.RunQueued{RunID: "left", Attempt: 1, Provider: "codex", Pool: runs.DefaultPool, Position: 1}, 1)
	select {
	case <-b.nats.JS.PublishAsyncComplete():
	case <-time.After(wait):
		t.Fatal("staging the log took too long")
	}
	for _, f := range pending {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			require.NoError(t, err)
		}
	}

	start := time.Now()
	in := b.start(testConfig())
	t.Logf("replayed %d events (%d runs) and became ready in %s", len(pending), finished+1, time.Since(start))
	b.waitDispatched("left")
	snap := in.snapshot(t)
	require.Empty(t, snap.Queued)
	require.Len(t, snap.Active, 1)
	require.Equal(t, "left", snap.Active[0].RunID)
}
