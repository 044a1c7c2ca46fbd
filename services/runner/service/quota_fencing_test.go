package service_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/runner/service"
)

// An agent that fails on its provider's usage limit is reported as such,
// with the reset time it printed, and retryable even without retries left:
// the scheduler holds the provider and queues the run again.
func TestAQuotaFailureIsReportedWithItsReset(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-quota", service.Config{})
	resets := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	b.dispatch("quota", runs.Spec{Workspace: t.TempDir(), Isolation: runs.IsolationNone,
		Prompt: fmt.Sprintf(`stderr="Claude AI usage limit reached|%d" exit=1`, resets.Unix())})
	evs := b.events("quota", 30*time.Second)
	f := find[*events.RunFailed](t, evs)
	require.Equal(t, runs.ReasonUsageLimit, f.Reason)
	require.Contains(t, f.Message, "usage limit reached")
	require.NotNil(t, f.ResetsAt)
	require.True(t, resets.Equal(*f.ResetsAt))
	require.True(t, f.Retryable, "a quota failure is re-queued without using a retry")
	require.Equal(t, 1, *f.ExitCode)

	// A plain failure is still an agent error, not retryable without retries.
	b.dispatch("plain", runs.Spec{Workspace: t.TempDir(), Isolation: runs.IsolationNone, Prompt: `stderr="boom" exit=1`})
	f = find[*events.RunFailed](t, b.events("plain", 30*time.Second))
	require.Equal(t, runs.ReasonAgentError, f.Reason)
	require.False(t, f.Retryable)
}

// A runner whose attempt the scheduler failed meanwhile (it declared the
// runner lost) stops the agent within a heartbeat and records no end of
// its own for the attempt: the scheduler's stands.
func TestAFencedAttemptIsStopped(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-fenced", service.Config{Heartbeat: 200 * time.Millisecond})
	b.dispatch("fenced", runs.Spec{Workspace: t.TempDir(), Isolation: runs.IsolationNone, Prompt: "sleep=60s"},
		func(d *commands.Dispatch) { d.RetriesLeft = 1 })
	started := b.waitFor("fenced", "run.started", 30*time.Second).Payload.(*events.RunStarted)
	// As the scheduler does when the runner missed its heartbeats.
	_, err := b.pub.Event(b.ctx, &events.RunFailed{RunID: "fenced", Attempt: 1, Reason: runs.ReasonRunnerLost,
		Message: "runner r-fenced missed 3 heartbeats", Retryable: true}, bus.WithAttempt(1))
	require.NoError(t, err)
	w := b.waitFor("fenced", "run.warning", 10*time.Second)
	require.Equal(t, "fenced", w.Payload.(*events.RunWarning).Code)
	require.Eventually(t, func() bool { return groupGone(t, started.PID) }, 10*time.Second, 20*time.Millisecond, "the agent is stopped")

	// The runner recorded no end of attempt 1: only the scheduler's failure.
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, "fenced")},
	})
	require.NoError(t, err)
	time.Sleep(500 * time.Millisecond)
	batch, err := c.Fetch(1000, jetstream.FetchMaxWait(time.Second))
	require.NoError(t, err)
	var ends []string
	for msg := range batch.Messages() {
		ev, err := bus.DecodeEvent(msg)
		require.NoError(t, err)
		switch ev.Payload.(type) {
		case *events.RunCompleted, *events.RunFailed, *events.RunCanceled:
			ends = append(ends, ev.Type+" by "+strings.Split(ev.Source, "/")[1])
		}
	}
	require.Equal(t, []string{"run.failed by scheduler"}, ends)

	// A later attempt of the run dispatched elsewhere fences the same way.
	b.dispatch("fenced2", runs.Spec{Workspace: t.TempDir(), Isolation: runs.IsolationNone, Prompt: "sleep=60s"})
	started = b.waitFor("fenced2", "run.started", 30*time.Second).Payload.(*events.RunStarted)
	_, err = b.pub.Event(b.ctx, &events.RunDispatched{RunID: "fenced2", Attempt: 2, Pool: runs.DefaultPool, Provider: "fake"}, bus.WithAttempt(2))
	require.NoError(t, err)
	w = b.waitFor("fenced2", "run.warning", 10*time.Second)
	require.Contains(t, w.Payload.(*events.RunWarning).Message, "attempt "+strconv.Itoa(2))
	require.Eventually(t, func() bool { return groupGone(t, started.PID) }, 10*time.Second, 20*time.Millisecond)
}
