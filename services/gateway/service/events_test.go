package service_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/service"
)

var fakeSpec = runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}

func chunk(runID string, n int64) events.Payload {
	return events.RunChunkStdout{RunChunk: events.RunChunk{RunID: runID, Attempt: 1, Seq: n, Data: "line " + strconv.FormatInt(n, 10) + "\n", Lines: 1}}
}

// interleaved appends the run's first events with another run's events in
// between, so stream sequences have gaps and filtering matters. It returns
// the run's sequences.
func (b *bundle) interleaved(runID string, chunks int) []uint64 {
	b.t.Helper()
	other := envelope.NewID()
	var seqs []uint64
	seqs = append(seqs, b.emit(events.RunRequested{RunID: runID, Spec: fakeSpec}))
	b.emit(events.RunRequested{RunID: other, Spec: fakeSpec})
	seqs = append(seqs, b.emit(events.RunQueued{RunID: runID, Attempt: 1, Provider: "fake", Pool: "default", Position: 1}))
	b.emit(events.RunQueued{RunID: other, Attempt: 1, Provider: "fake", Pool: "default", Position: 2})
	seqs = append(seqs, b.emit(events.RunStarted{RunID: runID, Attempt: 1, RunnerID: "r1", Host: "h", PID: 1, Argv: []string{"fake"}, Cwd: "/w"}))
	for i := 1; i <= chunks; i++ {
		seqs = append(seqs, b.emit(chunk(runID, int64(i))))
		b.emit(chunk(other, int64(i)))
	}
	b.project(seqs[0], seqs[1], seqs[2])
	return seqs
}

func TestEventsReplayInOrderWithStreamSequencesAndFollowUntilTerminal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	seqs := b.interleaved(id, 3)

	c := b.openEvents(id, "", "")
	require.Equal(t, http.StatusOK, c.res.StatusCode)
	require.Equal(t, "no-store", c.res.Header.Get("Cache-Control"))
	for i, seq := range seqs {
		ev := c.event()
		require.Equal(t, seq, ev.Seq, "event %d", i)
		require.Equal(t, id, ev.RunID)
		require.NotEmpty(t, ev.ID)
		require.Equal(t, "phantom/scheduler/test", ev.Source)
		require.False(t, ev.Time.IsZero())
	}
	// Live: appended after the replay, delivered as they come.
	live := []events.Payload{
		chunk(id, 4),
		events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonRunnerLost, Message: "lost", Retryable: true},
		events.RunRetryScheduled{RunID: id, Attempt: 1, NextAttempt: 2, Reason: runs.ReasonRunnerLost},
		events.RunCompleted{RunID: id, Attempt: 2, ExitCode: 0, Result: "ok"},
		events.RunArchived{RunID: id},
	}
	var liveSeqs []uint64
	for _, p := range live {
		liveSeqs = append(liveSeqs, b.emit(p))
	}
	ev := c.event()
	require.Equal(t, liveSeqs[0], ev.Seq)
	require.Equal(t, "run.chunk.stdout", ev.Type)
	require.Equal(t, 1, ev.Attempt)
	var data events.RunChunk
	require.NoError(t, json.Unmarshal(ev.Data, &data))
	require.Equal(t, "line 4\n", data.Data)
	ev = c.event()
	require.Equal(t, "run.failed", ev.Type, "a retryable failure does not end the stream")
	require.Equal(t, "run.retry_scheduled", c.event().Type)
	ev = c.event()
	require.Equal(t, "run.completed", ev.Type)
	require.Equal(t, 2, ev.Attempt)
	require.Equal(t, liveSeqs[3], ev.Seq)
	c.ended() // after the terminal event, not waiting for run.archived
}

func TestEventsResumeAfterLastEventIDWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	seqs := b.interleaved(id, 6)

	first := b.openEvents(id, "", "")
	var got []uint64
	for range 4 {
		got = append(got, first.event().Seq)
	}
	first.close() // the connection drops

	// EventSource reconnects to the same URL with Last-Event-ID; the after
	// parameter of the original URL must not win over it.
	seqs = append(seqs, b.emit(events.RunCompleted{RunID: id, Attempt: 1}))
	again := b.openEvents(id, "after=1", strconv.FormatUint(got[len(got)-1], 10))
	require.Equal(t, http.StatusOK, again.res.StatusCode)
	for {
		ev := again.event()
		got = append(got, ev.Seq)
		if ev.Type == "run.completed" {
			break
		}
	}
	again.ended()
	require.Equal(t, seqs, got, "every event exactly once, in order")

	// The after parameter resumes a first connection the same way.
	fromParam := b.openEvents(id, "after="+strconv.FormatUint(seqs[5], 10)+"&follow=false", "")
	for _, want := range seqs[6:] {
		require.Equal(t, want, fromParam.event().Seq)
	}
	fromParam.ended()

	// Resuming after the terminal event: nothing to send, the stream is over.
	over := b.openEvents(id, "", strconv.FormatUint(seqs[len(seqs)-1], 10))
	require.Equal(t, http.StatusNoContent, over.res.StatusCode)

	// Only run.archived followed the end: it is delivered, then the stream ends.
	archived := b.emit(events.RunArchived{RunID: id})
	tail := b.openEvents(id, "", strconv.FormatUint(seqs[len(seqs)-1], 10))
	require.Equal(t, http.StatusOK, tail.res.StatusCode)
	require.Equal(t, archived, tail.event().Seq)
	tail.ended()
}

func TestEventsWithoutFollowEndAtTheEndOfTheStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	seqs := b.interleaved(id, 2) // a run still going: no terminal event

	c := b.openEvents(id, "follow=false", "")
	require.Equal(t, http.StatusOK, c.res.StatusCode)
	for _, want := range seqs {
		require.Equal(t, want, c.event().Seq)
	}
	c.ended()

	// Nothing after the last event: 204, which also stops EventSource.
	empty := b.openEvents(id, "follow=false", strconv.FormatUint(seqs[len(seqs)-1], 10))
	require.Equal(t, http.StatusNoContent, empty.res.StatusCode)
}

func TestEventsOfAnUnknownRunAreNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) { c.SubmitWait = 200 * time.Millisecond })
	for _, q := range []string{"", "follow=false"} {
		res := b.get("/v1/runs/" + envelope.NewID() + "/events?" + q)
		require.Equal(t, http.StatusNotFound, res.status, q)
		require.Equal(t, problems.NotFound, res.problem(t).Code)
	}
	res := b.get("/v1/runs/" + envelope.NewID() + "/events?after=x")
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, "after", res.problem(t).Field)
	req := b.request(http.MethodGet, "/v1/runs/"+envelope.NewID()+"/events", nil)
	req.Header.Set("Last-Event-ID", "-3")
	res = b.do(req)
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, "Last-Event-ID", res.problem(t).Field)
	res = b.get("/v1/runs/" + envelope.NewID() + "/events?follow=sometimes")
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, "follow", res.problem(t).Field)
}

// A client that asks for the events of a run it just submitted may be
// faster than the projector, or even than the scheduler.
func TestEventsOfARunNotYetProjectedAreStreamed(t *testing.T) {
	t.Parallel()
	b := setup(t)

	// In the log, not in the read model.
	inLog := envelope.NewID()
	seq := b.emit(events.RunRequested{RunID: inLog, Spec: fakeSpec})
	c := b.openEvents(inLog, "follow=false", "")
	require.Equal(t, http.StatusOK, c.res.StatusCode)
	require.Equal(t, seq, c.event().Seq)
	c.ended()

	// In neither yet: the stream waits (up to PHANTOM_SUBMIT_WAIT) for its first event.
	soon := envelope.NewID()
	opened := make(chan *sseClient, 1)
	go func() { opened <- b.openEvents(soon, "", "") }()
	time.Sleep(100 * time.Millisecond) // let the request reach the gateway first
	first := b.emit(events.RunRequested{RunID: soon, Spec: fakeSpec})
	b.emit(events.RunRejected{RunID: soon, Reason: runs.ReasonQueueFull, Message: "full"})
	var s *sseClient
	select {
	case s = <-opened:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not open")
	}
	require.Equal(t, http.StatusOK, s.res.StatusCode)
	require.Equal(t, first, s.event().Seq)
	require.Equal(t, "run.rejected", s.event().Type)
	s.ended()
}

func TestIdleEventStreamsCarryHeartbeats(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) { c.SSEHeartbeat = 100 * time.Millisecond })
	id := envelope.NewID()
	b.project(b.emit(events.RunRequested{RunID: id, Spec: fakeSpec}))
	c := b.openEvents(id, "", "")
	require.Equal(t, "run.requested", c.event().Type)
	time.AfterFunc(450*time.Millisecond, func() { b.emit(events.RunCanceled{RunID: id, Reason: "user"}) })
	require.Equal(t, "run.canceled", c.event().Type)
	require.GreaterOrEqual(t, c.comments, 2, "an idle stream gets a heartbeat comment each interval")
	c.ended()
}

func TestOpenEventStreamsEndWhenTheGatewayStops(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	b.project(b.emit(events.RunRequested{RunID: id, Spec: fakeSpec}))
	c := b.openEvents(id, "", "")
	require.Equal(t, "run.requested", c.event().Type)
	b.stopRun()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ended()
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the gateway")
	}
}

func TestEventStreamsAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) { c.MaxStreams = 2 })
	id := envelope.NewID()
	b.project(b.emit(events.RunRequested{RunID: id, Spec: fakeSpec}))
	for range 2 {
		c := b.openEvents(id, "", "")
		require.Equal(t, "run.requested", c.event().Type)
	}
	res := b.get("/v1/runs/" + id + "/events")
	require.Equal(t, http.StatusServiceUnavailable, res.status)
	require.Equal(t, problems.Unavailable, res.problem(t).Code)
}
