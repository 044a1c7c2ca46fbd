package service

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// A retryable failure gets a new attempt after a backoff, with one retry
// less; the attempt is numbered and its dispatch carries it.
func TestARetryableFailureIsRetriedAfterABackoff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startLeader(testConfig())
	s := spec("claude")
	s.MaxRetries, s.RetryBackoffMs = intp(1), intp(100)
	b.submit("r", s)
	ds := b.waitDispatched("r")
	require.Equal(t, 1, ds[0].Dispatch.RetriesLeft)
	b.runnerEvent(&events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w-1"}, 1)
	b.runnerEvent(&events.RunFailed{RunID: "r", Attempt: 1, Reason: runs.ReasonAPIError, Message: "HTTP 529", Retryable: true}, 1)
	evs := b.eventsOf("r", "run.requested", "run.queued", "run.dispatched", "run.started", "run.failed",
		"run.retry_scheduled", "run.queued", "run.dispatched")
	rs := evs[5].Payload.(*events.RunRetryScheduled)
	require.Equal(t, 2, rs.NextAttempt)
	require.Equal(t, runs.ReasonAPIError, rs.Reason)
	require.Equal(t, int64(100), rs.BackoffMs, "the first retry waits the request's backoff (jittered within 50-100 ms, at least 100 ms)")
	require.Equal(t, 2, evs[6].Payload.(*events.RunQueued).Attempt)
	ds = b.waitDispatched("r", "r")
	require.Equal(t, 2, ds[1].Dispatch.Attempt)
	require.Equal(t, 0, ds[1].Dispatch.RetriesLeft, "the last retry")

	// The second attempt fails too: no retry is left, the runner says so.
	b.runnerEvent(&events.RunStarted{RunID: "r", Attempt: 2, RunnerID: "w-1"}, 2)
	b.runnerEvent(&events.RunFailed{RunID: "r", Attempt: 2, Reason: runs.ReasonAPIError}, 2)
	b.submit("next", spec("claude"))
	b.waitDispatched("r", "r", "next")
	b.requireOncePerAttempt()
}

// A usage limit holds the provider until its reset: the run that hit it is
// queued again without using a retry, the provider's other runs wait
// instead of failing, other providers go on, and all resumes by itself.
func TestAQuotaHoldsTheProviderUntilItsReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig()
	cfg.MaxRunning = 3
	b.startLeader(cfg)
	hit := spec("claude")
	hit.MaxRetries = intp(0)
	b.submit("hit", hit)
	b.submit("waits", spec("claude"))
	b.waitDispatched("hit")
	b.eventsOf("waits", "run.requested", "run.queued")
	b.runnerEvent(&events.RunStarted{RunID: "hit", Attempt: 1, RunnerID: "w-1"}, 1)
	resets := time.Now().Add(1500 * time.Millisecond).UTC().Truncate(time.Millisecond)
	b.runnerEvent(&events.RunFailed{RunID: "hit", Attempt: 1, Reason: runs.ReasonUsageLimit, Message: "Claude AI usage limit reached",
		ResetsAt: &resets, Retryable: true}, 1)

	require.Eventually(t, func() bool {
		evs, err := b.readEvents("hit")
		return err == nil && len(evs) >= 7
	}, wait, 10*time.Millisecond)
	var held *events.ProviderHeld
	for _, e := range b.providerEvents("claude") {
		if h, ok := e.(*events.ProviderHeld); ok {
			held = h
		}
	}
	require.NotNil(t, held)
	require.True(t, resets.Equal(held.Until))
	require.True(t, held.ResetKnown)
	require.Equal(t, "hit", held.RunID)

	// Meanwhile claude waits (the queue says why); codex goes.
	b.submit("other", spec("codex"))
	b.waitDispatched("hit", "other")
	reply := b.queue(rpc.SchedulerQueueRequest{Provider: "claude"})
	require.Len(t, reply.Jobs, 2)
	require.Equal(t, "hit", reply.Jobs[0].RunID, "the run that hit the limit keeps its place")
	for _, j := range reply.Jobs {
		require.Equal(t, rpc.WaitProviderHold, j.Waiting)
		require.True(t, resets.Equal(*j.HoldUntil))
	}
	require.Less(t, time.Now(), resets, "nothing of claude went before the reset")

	// At the reset the hold is released and claude's runs go, oldest first.
	ds := b.waitDispatched("hit", "other", "hit")
	require.Equal(t, 2, ds[2].Dispatch.Attempt)
	require.Equal(t, 0, ds[2].Dispatch.RetriesLeft, "a hold is not a retry")
	require.False(t, time.Now().Before(resets))
	var released bool
	for _, e := range b.providerEvents("claude") {
		if _, ok := e.(*events.ProviderReleased); ok {
			released = true
		}
	}
	require.True(t, released)
	evs := b.eventsOf("hit", "run.requested", "run.queued", "run.dispatched", "run.started", "run.failed",
		"run.retry_scheduled", "run.queued", "run.dispatched")
	require.Equal(t, runs.ReasonUsageLimit, evs[5].Payload.(*events.RunRetryScheduled).Reason)
	b.runAndComplete2("hit", "w-1", 2)
	b.waitDispatched("hit", "other", "hit", "waits")
	b.requireOncePerAttempt()
}

// A runner that stops heartbeating is lost after three missed heartbeats:
// runner.lost, its started attempts fail with runner_lost, and each is
// retried elsewhere.
func TestALostRunnersRunsAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startLeader(testConfig())
	s := spec("claude")
	s.MaxRetries, s.RetryBackoffMs = intp(2), intp(100)
	b.submit("r", s)
	b.waitDispatched("r")
	b.runnerEvent(&events.RunStarted{RunID: "r", Attempt: 1, RunnerID: "w-dies"}, 1)
	b.runnerEvent(&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "r", Attempt: 1, Seq: 1, Data: "working\n", Lines: 1}}, 1)
	time.Sleep(3 * heartbeatEvery)
	killed := time.Now()
	b.silence("w-dies")
	evs := b.eventsOf("r", "run.requested", "run.queued", "run.dispatched", "run.started", "run.chunk.stdout", "run.failed",
		"run.retry_scheduled", "run.queued", "run.dispatched")
	noticed := time.Since(killed)
	f := evs[5].Payload.(*events.RunFailed)
	require.Equal(t, runs.ReasonRunnerLost, f.Reason)
	require.True(t, f.Retryable)
	require.Contains(t, f.Message, "missed 3 heartbeats")
	require.Less(t, noticed, 3*heartbeatEvery+2*time.Second, "noticed within three heartbeats (and a tick)")
	var lost *events.RunnerLost
	for _, e := range b.runnerEvents("w-dies") {
		if l, ok := e.(*events.RunnerLost); ok {
			lost = l
		}
	}
	require.NotNil(t, lost)
	require.Equal(t, []string{"r"}, lost.Runs)
	ds := b.waitDispatched("r", "r")
	require.Equal(t, 2, ds[1].Dispatch.Attempt)
	// A late event of the abandoned attempt (the runner comes back) changes nothing.
	b.runnerEvent(&events.RunCompleted{RunID: "r", Attempt: 1}, 1)
	b.runnerEvent(&events.RunStarted{RunID: "r", Attempt: 2, RunnerID: "w-other"}, 2)
	b.runnerEvent(&events.RunCompleted{RunID: "r", Attempt: 2}, 2)
	b.submit("after", spec("claude"))
	b.waitDispatched("r", "r", "after")
}

// The queue as the active scheduler sees it, over NATS: positions in
// dispatch order, effective priorities, why each run waits.
func TestTheQueueIsServedOverNATS(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startLeader(testConfig())
	b.submit("busy", spec("claude"))
	b.waitDispatched("busy")
	low, high := spec("claude"), spec("claude")
	low.Priority, high.Priority = intp(-3), intp(7)
	b.submit("low", low)
	b.submit("high", high)
	b.submit("codex", spec("codex"))
	b.waitDispatched("busy", "codex")
	b.eventsOf("high", "run.requested", "run.queued")
	reply := b.queue(rpc.SchedulerQueueRequest{})
	require.Empty(t, reply.Error)
	require.Equal(t, 2, reply.Pending)
	require.Equal(t, 2, reply.Running)
	require.Equal(t, 2, reply.Limits.MaxRunning)
	require.Equal(t, testConfig().AgingHorizon.Milliseconds(), reply.Limits.AgingHorizonMs)
	require.Equal(t, []string{"high", "low"}, []string{reply.Jobs[0].RunID, reply.Jobs[1].RunID})
	require.Equal(t, 1, reply.Jobs[0].Position)
	require.Equal(t, rpc.WaitProviderLimit, reply.Jobs[0].Waiting)
	require.GreaterOrEqual(t, reply.Jobs[0].EffectivePriority, 7.0)
	require.Less(t, reply.Jobs[0].EffectivePriority, 8.0)
	require.Equal(t, "/src/project", reply.Jobs[0].Workspace)
	require.Len(t, b.queue(rpc.SchedulerQueueRequest{Limit: 1}).Jobs, 1)
	require.Empty(t, b.queue(rpc.SchedulerQueueRequest{Provider: "gemini"}).Jobs)
}

// Two schedulers: one active, one standing by with the queue rebuilt. The
// active one is killed while submits stream in; the standby takes over
// within a few seconds with the queue intact, dispatches the rest, never
// past a limit and never an attempt twice.
func TestTheStandbyTakesOverWhenTheActiveSchedulerIsKilled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := testConfig()
	first := b.startLeader(cfg)
	second := b.start(cfg)
	time.Sleep(200 * time.Millisecond)
	require.False(t, second.svc.Leading(), "one active scheduler")
	require.Equal(t, 0.0, second.metric(t, "phantom_scheduler_leader"))
	require.Equal(t, 1.0, first.metric(t, "phantom_scheduler_leader"))

	agents := []string{"claude", "codex", "gemini"}
	var mu sync.Mutex
	submitted := 0
	submitOne := func() {
		mu.Lock()
		i := submitted
		submitted++
		mu.Unlock()
		b.submit(fmt.Sprintf("r%02d", i), spec(agents[i%3]))
	}
	for range 6 {
		submitOne()
	}
	b.waitDispatched("r00", "r01")
	require.Eventually(t, func() bool {
		s, _ := second.svc.Snapshot()
		return len(s.Queued) == 4 && len(s.Active) == 2
	}, wait, 10*time.Millisecond, "the standby follows the log")
	before, _ := first.svc.Snapshot()

	// Kill the active scheduler mid-stream: submits keep arriving.
	stop := make(chan struct{})
	streamDone := make(chan struct{})
	go func() {
		defer close(streamDone)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				submitOne()
			}
		}
	}()
	killed := time.Now()
	first.kill(t)
	require.Eventually(t, second.svc.Leading, 3*streamsLeaseTTL, 10*time.Millisecond, "the standby never took over")
	tookOver := time.Since(killed)
	close(stop)
	<-streamDone
	t.Logf("the standby took over %s after the kill (lease TTL %s)", tookOver.Round(time.Millisecond), streamsLeaseTTL)
	require.Less(t, tookOver, 2*streamsLeaseTTL)
	after, _ := second.svc.Snapshot()
	require.Equal(t, before.Active, after.Active, "the slots held are intact")
	require.Subset(t, queuedIDs(after), queuedIDs(before), "every run queued before is still queued")

	// Everything submitted gets through, in order, within the limits.
	mu.Lock()
	n := submitted
	mu.Unlock()
	done := map[string]bool{}
	require.Eventually(t, func() bool {
		for _, d := range b.dispatches() {
			if !done[d.Dispatch.RunID] {
				done[d.Dispatch.RunID] = true
				b.runAndComplete(d.Dispatch.RunID, "w-1")
			}
		}
		return len(done) == n
	}, 2*wait, 20*time.Millisecond, "every run is dispatched")
	b.requireOncePerAttempt()
	b.requireLimits(2, 1)
}

// streamsLeaseTTL is the lease TTL of testenv's NATS.
const streamsLeaseTTL = 3 * time.Second

// requireLimits checks along the whole log that never more than maxRunning
// runs, and maxPerProvider runs of one provider, held a slot.
func (b *testBundle) requireLimits(maxRunning, maxPerProvider int) {
	b.t.Helper()
	provider := map[string]string{}
	active := map[string]bool{}
	for _, e := range b.events("") {
		switch p := e.Payload.(type) {
		case *events.RunRequested:
			provider[p.RunID] = p.Spec.ProviderOrAgent()
		case *events.RunDispatched:
			active[e.RunID] = true
		case *events.RunCompleted, *events.RunCanceled, *events.RunFailed:
			delete(active, e.RunID)
		}
		per := map[string]int{}
		for id := range active {
			per[provider[id]]++
			require.LessOrEqual(b.t, per[provider[id]], maxPerProvider, "per-provider limit at seq %d", e.Seq)
		}
		require.LessOrEqual(b.t, len(active), maxRunning, "global limit at seq %d", e.Seq)
	}
}

// queue asks the active scheduler for its queue.
func (b *testBundle) queue(req rpc.SchedulerQueueRequest) rpc.SchedulerQueueReply {
	b.t.Helper()
	data, err := json.Marshal(req)
	require.NoError(b.t, err)
	msg, err := b.nats.Conn.Request(subjects.SchedulerQueue, data, wait)
	require.NoError(b.t, err)
	var reply rpc.SchedulerQueueReply
	require.NoError(b.t, json.Unmarshal(msg.Data, &reply))
	return reply
}

// providerEvents are the events of one provider's aggregate.
func (b *testBundle) providerEvents(provider string) []events.Payload {
	return b.aggregateEvents(events.AggregateProvider, provider)
}

// runnerEvents are the events of one runner's aggregate.
func (b *testBundle) runnerEvents(runner string) []events.Payload {
	return b.aggregateEvents(events.AggregateRunner, runner)
}

func (b *testBundle) aggregateEvents(aggregate, id string) []events.Payload {
	b.t.Helper()
	prefix := subjects.EventsRoot + "." + aggregate + "." + id + "."
	msgs, err := b.stored("PHANTOM_EVENTS", func(s string) bool { return len(s) > len(prefix) && s[:len(prefix)] == prefix })
	require.NoError(b.t, err)
	var out []events.Payload
	for _, m := range msgs {
		p, err := subjects.ParseEvent(m.Subject)
		require.NoError(b.t, err)
		ev, err := events.Decode(p.Type, m.Data)
		require.NoError(b.t, err)
		out = append(out, ev)
	}
	return out
}

// runAndComplete2 starts and completes an attempt of a run on runner w.
func (b *testBundle) runAndComplete2(runID, runner string, attempt int) {
	b.t.Helper()
	b.runnerEvent(&events.RunStarted{RunID: runID, Attempt: attempt, RunnerID: runner, Host: "h"}, attempt)
	b.runnerEvent(&events.RunCompleted{RunID: runID, Attempt: attempt}, attempt)
}
