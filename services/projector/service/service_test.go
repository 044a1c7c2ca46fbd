package service_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/projtest"
	"github.com/phantom-run/phantom/services/projector/service"
)

type bundle struct {
	*projtest.Env
	t *testing.T
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return &bundle{Env: projtest.Setup(t, 2*time.Minute), t: t}
}

// running is a projector running in the background.
type running struct {
	svc  *service.Service
	reg  *prometheus.Registry
	stop func()
}

// start runs a projector until stop (or the end of the test).
func (b *bundle) start(cfg service.Config) *running {
	b.t.Helper()
	reg := prometheus.NewRegistry()
	svc, err := service.New(b.Ctx, cfg, b.DaemonEnv(reg))
	require.NoError(b.t, err)
	ctx, cancel := context.WithCancel(b.Ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(b.t, err)
			case <-time.After(20 * time.Second):
				b.t.Fatal("the projector did not stop within 20s")
			}
		})
	}
	b.t.Cleanup(stop)
	return &running{svc: svc, reg: reg, stop: stop}
}

func (b *bundle) publish(p events.Payload, attempt int, at time.Time) uint64 {
	b.t.Helper()
	return b.Publish(projtest.Planned{Payload: p, Attempt: attempt, Time: at})
}

func ptr[T any](v T) *T { return &v }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// runRow is a runs row as the gateway reads it.
type runRow struct {
	ID, Agent, Provider, Pool, Prompt, Workspace, Status string
	Spec                                                 map[string]any
	Priority, Attempt                                    int
	RunnerID, Host, Cwd, Reason, Message, Result         *string
	RerunOf, ConversationID, RequestedBy                 *string
	PID, ExitCode                                        *int
	Archived                                             bool
	CreatedAt, UpdatedAt                                 time.Time
	QueuedAt, DispatchedAt, StartedAt, FinishedAt        *time.Time
	LastSeq                                              int64
}

func (b *bundle) run(id string) runRow {
	b.t.Helper()
	var r runRow
	var spec []byte
	err := b.DB.QueryRow(b.Ctx, `SELECT id, agent, provider, pool, prompt, workspace, status, spec, priority, attempt,
		runner_id, host, cwd, reason, message, result, rerun_of, conversation_id, requested_by, pid, exit_code, archived,
		created_at, updated_at, queued_at, dispatched_at, started_at, finished_at, last_seq FROM runs WHERE id = $1`, id).Scan(
		&r.ID, &r.Agent, &r.Provider, &r.Pool, &r.Prompt, &r.Workspace, &r.Status, &spec, &r.Priority, &r.Attempt,
		&r.RunnerID, &r.Host, &r.Cwd, &r.Reason, &r.Message, &r.Result, &r.RerunOf, &r.ConversationID, &r.RequestedBy,
		&r.PID, &r.ExitCode, &r.Archived, &r.CreatedAt, &r.UpdatedAt, &r.QueuedAt, &r.DispatchedAt, &r.StartedAt,
		&r.FinishedAt, &r.LastSeq)
	require.NoError(b.t, err, "run %s", id)
	require.NoError(b.t, json.Unmarshal(spec, &r.Spec))
	for _, tp := range []*time.Time{&r.CreatedAt, &r.UpdatedAt} {
		*tp = tp.UTC()
	}
	for _, tp := range []**time.Time{&r.QueuedAt, &r.DispatchedAt, &r.StartedAt, &r.FinishedAt} {
		if *tp != nil {
			*tp = ptr((**tp).UTC())
		}
	}
	return r
}

// eventRow is a run_events row.
type eventRow struct {
	Seq     int64
	ID      string
	RunID   string
	Type    string
	Source  string
	Attempt *int
	Time    time.Time
	Data    map[string]any
}

func (b *bundle) events(runID string) []eventRow {
	b.t.Helper()
	rows, err := b.DB.Query(b.Ctx, `SELECT seq, id, run_id, type, source, attempt, time, data FROM run_events WHERE run_id = $1 ORDER BY seq`, runID)
	require.NoError(b.t, err)
	defer rows.Close()
	var out []eventRow
	for rows.Next() {
		var e eventRow
		var data []byte
		require.NoError(b.t, rows.Scan(&e.Seq, &e.ID, &e.RunID, &e.Type, &e.Source, &e.Attempt, &e.Time, &data))
		require.NoError(b.t, json.Unmarshal(data, &e.Data))
		e.Time = e.Time.UTC()
		out = append(out, e)
	}
	require.NoError(b.t, rows.Err())
	return out
}

func asMap(t *testing.T, p any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m))
	return m
}

// scripted publishes (payload, attempt) pairs 1ms apart from start and
// checks the run's events row by row.
type scripted struct {
	payload events.Payload
	attempt int
}

func (b *bundle) script(startMs int, steps ...scripted) (seqs []uint64) {
	b.t.Helper()
	for i, s := range steps {
		seqs = append(seqs, b.publish(s.payload, s.attempt, at(startMs+i)))
	}
	return seqs
}

func (b *bundle) requireEvents(runID string, startMs int, seqs []uint64, steps []scripted) {
	b.t.Helper()
	got := b.events(runID)
	require.Len(b.t, got, len(steps))
	for i, e := range got {
		require.Equal(b.t, int64(seqs[i]), e.Seq)
		require.Equal(b.t, runID, e.RunID)
		require.Equal(b.t, steps[i].payload.EventType(), e.Type)
		require.Equal(b.t, projtest.Source, e.Source)
		require.Equal(b.t, at(startMs+i), e.Time)
		require.Equal(b.t, asMap(b.t, steps[i].payload), e.Data)
		require.NotEmpty(b.t, e.ID)
		if steps[i].attempt > 0 {
			require.Equal(b.t, ptr(steps[i].attempt), e.Attempt, "event %d", i)
		} else {
			require.Nil(b.t, e.Attempt, "event %d", i)
		}
	}
}

func TestRunLifecyclesAreProjectedExactly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(service.DefaultConfig())

	spec := runs.Spec{Agent: "claude", Prompt: "fix the flaky test", Workspace: "/work/repo", Priority: ptr(2), Labels: map[string]string{"team": "core"}}
	completed := []scripted{
		{&events.RunRequested{RunID: "run-ok", Spec: spec, RequestedBy: "alice", ConversationID: "conv-1"}, 0},
		{&events.RunQueued{RunID: "run-ok", Attempt: 1, Priority: 2, Provider: "claude", Pool: "default", Position: 1}, 1},
		{&events.RunDispatched{RunID: "run-ok", Attempt: 1, Pool: "default", Provider: "claude"}, 1},
		{&events.RunWorktreePrepared{RunID: "run-ok", Attempt: 1, Host: "h1", Repo: "/work/repo", Path: "/wt/run-ok", Branch: "phantom/run-ok"}, 1},
		{&events.RunStarted{RunID: "run-ok", Attempt: 1, RunnerID: "runner-a", Host: "h1", PID: 4242, Argv: []string{"claude", "-p"}, Cwd: "/wt/run-ok"}, 1},
		{&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "run-ok", Attempt: 1, Seq: 1, Data: "reading files\n", Lines: 1}}, 1},
		{&events.RunSemantic{RunID: "run-ok", Attempt: 1, Kind: events.SemanticToolUse, ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"go test ./..."}`)}, 1},
		{&events.RunChunkStderr{RunChunk: events.RunChunk{RunID: "run-ok", Attempt: 1, Seq: 1, Data: "warning: slow\n", Lines: 1}}, 1},
		{&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "run-ok", Attempt: 1, Seq: 2, Offset: 14, Data: "all tests pass\n", Lines: 1}}, 1},
		{&events.RunCLIExit{RunID: "run-ok", Attempt: 1, ExitCode: 0, DurationMs: 5300}, 1},
		{&events.RunRunnerMetrics{RunID: "run-ok", Attempt: 1, DurationMs: 5300, StdoutBytes: 29, StderrBytes: 14, Lines: 3, Chunks: 3}, 1},
		{&events.RunCompleted{RunID: "run-ok", Attempt: 1, ExitCode: 0, DurationMs: 5300, Result: "Fixed the race in TestX."}, 1},
	}
	failed := []scripted{
		{&events.RunRequested{RunID: "run-bad", Spec: runs.Spec{Agent: "codex", Prompt: "p", Workspace: "/w", Pool: "gpu", Provider: "openai"}, RerunOf: "run-old"}, 0},
		{&events.RunQueued{RunID: "run-bad", Attempt: 1, Provider: "openai", Pool: "gpu"}, 1},
		{&events.RunDispatched{RunID: "run-bad", Attempt: 1, Pool: "gpu", Provider: "openai"}, 1},
		{&events.RunStarted{RunID: "run-bad", Attempt: 1, RunnerID: "runner-b", Host: "h2", PID: 7, Cwd: "/w"}, 1},
		{&events.RunCLIExit{RunID: "run-bad", Attempt: 1, ExitCode: 3}, 1},
		{&events.RunFailed{RunID: "run-bad", Attempt: 1, Reason: runs.ReasonAgentError, Message: "exit status 3", ExitCode: ptr(3)}, 1},
	}
	canceled := []scripted{
		{&events.RunRequested{RunID: "run-cxl", Spec: runs.Spec{Agent: "gemini", Prompt: "p", Workspace: "/w"}}, 0},
		{&events.RunQueued{RunID: "run-cxl", Attempt: 1, Priority: 0, Provider: "gemini", Pool: "default", Position: 3}, 1},
		{&events.RunCanceled{RunID: "run-cxl", Attempt: 1, Reason: runs.ReasonCanceled, By: "bob"}, 1},
		// A late cancel from the runner does not change a terminal run.
		{&events.RunFailed{RunID: "run-cxl", Attempt: 1, Reason: runs.ReasonKilled, Message: "killed"}, 1},
	}
	retried := []scripted{
		{&events.RunRequested{RunID: "run-retry", Spec: runs.Spec{Agent: "claude", Prompt: "p", Workspace: "/w"}}, 0},
		{&events.RunQueued{RunID: "run-retry", Attempt: 1, Provider: "claude", Pool: "default"}, 1},
		{&events.RunDispatched{RunID: "run-retry", Attempt: 1}, 1},
		{&events.RunStarted{RunID: "run-retry", Attempt: 1, RunnerID: "runner-old", Host: "h3", PID: 11, Cwd: "/w"}, 1},
		{&events.RunFailed{RunID: "run-retry", Attempt: 1, Reason: runs.ReasonRunnerLost, Message: "runner-old lost", Retryable: true}, 1},
		{&events.RunRetryScheduled{RunID: "run-retry", Attempt: 1, NextAttempt: 2, NotBefore: at(9000), BackoffMs: 500, Reason: runs.ReasonRunnerLost}, 1},
		{&events.RunQueued{RunID: "run-retry", Attempt: 2, Provider: "claude", Pool: "default"}, 2},
		{&events.RunDispatched{RunID: "run-retry", Attempt: 2}, 2},
		{&events.RunStarted{RunID: "run-retry", Attempt: 2, RunnerID: "runner-new", Host: "h4", PID: 12, Cwd: "/w"}, 2},
		// The lost runner comes back and reports attempt 1: fenced.
		{&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "run-retry", Attempt: 1, Seq: 9, Data: "late\n"}}, 1},
		{&events.RunCompleted{RunID: "run-retry", Attempt: 1, ExitCode: 0, Result: "stale result"}, 1},
	}
	okSeqs := b.script(0, completed...)
	badSeqs := b.script(100, failed...)
	cxlSeqs := b.script(200, canceled...)
	retrySeqs := b.script(300, retried...)
	b.WaitCheckpoint(readmodel.ProjectionRuns, retrySeqs[len(retrySeqs)-1], 20*time.Second)

	b.requireEvents("run-ok", 0, okSeqs, completed)
	b.requireEvents("run-bad", 100, badSeqs, failed)
	b.requireEvents("run-cxl", 200, cxlSeqs, canceled)
	b.requireEvents("run-retry", 300, retrySeqs, retried)

	require.Equal(t, runRow{
		ID: "run-ok", Agent: "claude", Provider: "claude", Pool: "default", Prompt: "fix the flaky test", Workspace: "/work/repo",
		Status: "completed", Spec: asMap(t, &spec), Priority: 2, Attempt: 1,
		RunnerID: ptr("runner-a"), Host: ptr("h1"), Cwd: ptr("/wt/run-ok"), PID: ptr(4242), ExitCode: ptr(0),
		Result: ptr("Fixed the race in TestX."), ConversationID: ptr("conv-1"), RequestedBy: ptr("alice"),
		CreatedAt: at(0), QueuedAt: ptr(at(1)), DispatchedAt: ptr(at(2)), StartedAt: ptr(at(4)), FinishedAt: ptr(at(11)),
		UpdatedAt: at(11), LastSeq: int64(okSeqs[11]),
	}, b.run("run-ok"))
	require.Equal(t, runRow{
		ID: "run-bad", Agent: "codex", Provider: "openai", Pool: "gpu", Prompt: "p", Workspace: "/w", Status: "failed",
		Spec: map[string]any{"agent": "codex", "prompt": "p", "workspace": "/w", "pool": "gpu", "provider": "openai"}, Attempt: 1,
		RunnerID: ptr("runner-b"), Host: ptr("h2"), Cwd: ptr("/w"), PID: ptr(7), ExitCode: ptr(3),
		Reason: ptr(runs.ReasonAgentError), Message: ptr("exit status 3"), RerunOf: ptr("run-old"),
		CreatedAt: at(100), QueuedAt: ptr(at(101)), DispatchedAt: ptr(at(102)), StartedAt: ptr(at(103)), FinishedAt: ptr(at(105)),
		UpdatedAt: at(105), LastSeq: int64(badSeqs[5]),
	}, b.run("run-bad"))
	require.Equal(t, runRow{
		ID: "run-cxl", Agent: "gemini", Provider: "gemini", Pool: "default", Prompt: "p", Workspace: "/w", Status: "canceled",
		Spec: map[string]any{"agent": "gemini", "prompt": "p", "workspace": "/w"}, Attempt: 1,
		Reason: ptr(runs.ReasonCanceled), Message: ptr("canceled by bob"),
		CreatedAt: at(200), QueuedAt: ptr(at(201)), FinishedAt: ptr(at(202)),
		UpdatedAt: at(203), LastSeq: int64(cxlSeqs[3]),
	}, b.run("run-cxl"))
	require.Equal(t, runRow{
		ID: "run-retry", Agent: "claude", Provider: "claude", Pool: "default", Prompt: "p", Workspace: "/w", Status: "running",
		Spec: map[string]any{"agent": "claude", "prompt": "p", "workspace": "/w"}, Attempt: 2,
		RunnerID: ptr("runner-new"), Host: ptr("h4"), Cwd: ptr("/w"), PID: ptr(12),
		CreatedAt: at(300), QueuedAt: ptr(at(306)), DispatchedAt: ptr(at(307)), StartedAt: ptr(at(308)),
		UpdatedAt: at(310), LastSeq: int64(retrySeqs[10]),
	}, b.run("run-retry"))

	// Attempt 2 completes: now it is over.
	last := b.publish(&events.RunCompleted{RunID: "run-retry", Attempt: 2, ExitCode: 0, Result: "second time lucky"}, 2, at(311))
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 10*time.Second)
	r := b.run("run-retry")
	require.Equal(t, "completed", r.Status)
	require.Equal(t, ptr("second time lucky"), r.Result)
	require.Equal(t, ptr(at(311)), r.FinishedAt)
	require.Equal(t, 12, len(b.events("run-retry")))
	require.Equal(t, 4, b.Count("runs"))
	require.Equal(t, len(completed)+len(failed)+len(canceled)+len(retried)+1, b.Count("run_events"))
}

func TestEventsBeforeRunRequestedAreKept(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(service.DefaultConfig())
	b.publish(&events.RunQueued{RunID: "early", Attempt: 1, Priority: 4, Provider: "claude", Pool: "default"}, 1, at(0))
	s2 := b.publish(&events.RunDispatched{RunID: "early", Attempt: 1}, 1, at(1))
	b.WaitCheckpoint(readmodel.ProjectionRuns, s2, 10*time.Second)
	r := b.run("early")
	require.Equal(t, "dispatched", r.Status, "a run known only from later events has a row")
	require.Empty(t, r.Agent)
	require.Empty(t, r.Spec)
	require.Equal(t, at(0), r.CreatedAt)

	s3 := b.publish(&events.RunRequested{RunID: "early", Spec: runs.Spec{Agent: "claude", Prompt: "late request", Workspace: "/w"}}, 0, at(2))
	b.WaitCheckpoint(readmodel.ProjectionRuns, s3, 10*time.Second)
	r = b.run("early")
	require.Equal(t, "dispatched", r.Status)
	require.Equal(t, "claude", r.Agent)
	require.Equal(t, "late request", r.Prompt)
	require.Equal(t, 4, r.Priority)
	require.Equal(t, at(2), r.CreatedAt)
	require.Len(t, b.events("early"), 3)
}

func TestMalformedAndUnknownEventsAreSkippedAndRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	proj := b.start(service.DefaultConfig())
	js := b.NATS.JS

	// No CloudEvents headers at all.
	noHeaders, err := js.Publish(b.Ctx, "phantom.events.run.bad1.run.completed", []byte(`{"runId":"bad1"}`))
	require.NoError(t, err)
	// A known type whose payload does not decode.
	env, err := b.Pub.NewEnvelope(b.Ctx, "run.queued", "bad2", map[string]any{"runId": "bad2", "attempt": "one"}, bus.WithTime(at(1)))
	require.NoError(t, err)
	badPayload, err := js.PublishMsg(b.Ctx, env.Msg("phantom.events.run.bad2.run.queued"))
	require.NoError(t, err)
	// A type from a later version.
	env, err = b.Pub.NewEnvelope(b.Ctx, "run.from_the_future", "bad3", map[string]any{"runId": "bad3"})
	require.NoError(t, err)
	_, err = js.PublishMsg(b.Ctx, env.Msg("phantom.events.run.bad3.run.from_the_future"))
	require.NoError(t, err)
	// Text Postgres refuses as is: NUL characters and invalid UTF-8.
	nul := "a\x00b"
	s1 := b.publish(&events.RunRequested{RunID: "nul", Spec: runs.Spec{Agent: "fake", Prompt: "say " + nul, Workspace: "/w", Labels: map[string]string{"k" + nul: nul}}}, 0, at(3))
	s2 := b.publish(&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: "nul", Attempt: 1, Seq: 1, Data: "bin\x00ary \xff\xfe"}}, 1, at(4))
	s3 := b.publish(&events.RunFailed{RunID: "nul", Attempt: 1, Reason: runs.ReasonAgentError, Message: "bad\x00bytes"}, 1, at(5))
	b.WaitCheckpoint(readmodel.ProjectionRuns, s3, 10*time.Second)

	require.Equal(t, 1, b.Count("runs"), "only the well-formed run has a row")
	r := b.run("nul")
	require.Equal(t, "say a\uFFFDb", r.Prompt)
	require.Equal(t, map[string]any{"ka\uFFFDb": "a\uFFFDb"}, r.Spec["labels"])
	require.Equal(t, ptr("bad\uFFFDbytes"), r.Message)
	evs := b.events("nul")
	require.Len(t, evs, 3)
	require.Equal(t, int64(s1), evs[0].Seq)
	require.Equal(t, int64(s2), evs[1].Seq)
	require.Equal(t, "bin\uFFFDary \uFFFD\uFFFD", evs[1].Data["data"])

	errs := b.Rows(`SELECT seq || ' ' || coalesce(type, '-') || ' ' || error FROM projection_errors WHERE projection = 'runs' ORDER BY seq`)
	require.Len(t, errs, 2)
	require.True(t, strings.HasPrefix(errs[0], strconv.FormatUint(noHeaders.Sequence, 10)+" - malformed event"), errs[0])
	require.True(t, strings.HasPrefix(errs[1], strconv.FormatUint(badPayload.Sequence, 10)+" run.queued could not decode run.queued"), errs[1])
	// The runs projection's counts (other projections read run events too).
	require.Equal(t, 0.0, metricValue(t, proj.reg, "phantom_projector_events_skipped_total", "projection", "runs", "reason", "refused"))
	require.Equal(t, 2.0, metricValue(t, proj.reg, "phantom_projector_events_skipped_total", "projection", "runs", "reason", "malformed"))
	require.Equal(t, 1.0, metricValue(t, proj.reg, "phantom_projector_events_skipped_total", "projection", "runs", "reason", "unknown_type"))
	require.Equal(t, 3.0, metricValue(t, proj.reg, "phantom_projector_events_applied_total", "projection", "runs"))
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// metricValue sums the samples of a metric whose labels match labelKV.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labelKV ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labelKV); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labelKV[i] && l.GetValue() == labelKV[i+1] {
						found = true
					}
				}
				if !found {
					continue metrics
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return sum
}

func TestRepublishedEventIsStoredOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(service.DefaultConfig())
	s1 := b.publish(&events.RunRequested{RunID: "dup", Spec: runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}}, 0, at(0))
	msg, env, err := b.Pub.EventMsg(b.Ctx, &events.RunQueued{RunID: "dup", Attempt: 1, Position: 1}, bus.WithAttempt(1), bus.WithTime(at(1)))
	require.NoError(t, err)
	first, err := b.NATS.JS.PublishMsg(b.Ctx, msg)
	require.NoError(t, err)
	// The same fact published again after the stream's duplicate window: a
	// different Nats-Msg-Id gets it stored again, with the same ce-id. Once
	// right away (likely in the same batch), once after it was projected.
	msg.Header.Set(nats.MsgIdHdr, env.ID+"-again")
	again, err := b.NATS.JS.PublishMsg(b.Ctx, msg)
	require.NoError(t, err)
	require.Greater(t, again.Sequence, first.Sequence)
	b.WaitCheckpoint(readmodel.ProjectionRuns, again.Sequence, 10*time.Second)
	msg.Header.Set(nats.MsgIdHdr, env.ID+"-later")
	later, err := b.NATS.JS.PublishMsg(b.Ctx, msg)
	require.NoError(t, err)
	s4 := b.publish(&events.RunCanceled{RunID: "dup", Attempt: 1}, 1, at(2))
	b.WaitCheckpoint(readmodel.ProjectionRuns, s4, 10*time.Second)
	require.Greater(t, s4, later.Sequence)

	evs := b.events("dup")
	require.Len(t, evs, 3)
	require.Equal(t, []int64{int64(s1), int64(first.Sequence), int64(s4)}, []int64{evs[0].Seq, evs[1].Seq, evs[2].Seq})
	require.Equal(t, env.ID, evs[1].ID)
	r := b.run("dup")
	require.Equal(t, int64(s4), r.LastSeq, "the repeats are not folded")
	require.Equal(t, "canceled", r.Status)
}

// TestCrashesLoseAndRepeatNothing stops the projector at arbitrary points
// (between batches and inside them) while a stream of events is projected,
// restarts it each time, and requires the tables of an uninterrupted
// projection.
func TestCrashesLoseAndRepeatNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	work := projtest.Workload(60, 20, 7)
	half := len(work) / 2
	b.PublishAll(work[:half])
	cfg := service.DefaultConfig()
	cfg.Batch = 37
	for i := range 8 {
		p := b.start(cfg)
		// Let it make some progress, then kill it wherever it is.
		before := b.Checkpoint(readmodel.ProjectionRuns)
		require.Eventually(t, func() bool { return b.Checkpoint(readmodel.ProjectionRuns) > before }, 10*time.Second, time.Millisecond)
		time.Sleep(time.Duration(i%3) * time.Millisecond)
		p.stop()
		if i == 3 {
			b.PublishAll(work[half:])
		}
	}
	last := b.Checkpoint(readmodel.ProjectionRuns)
	s, err := b.NATS.JS.Stream(b.Ctx, streams.Events)
	require.NoError(t, err)
	info, err := s.Info(b.Ctx)
	require.NoError(t, err)
	require.Less(t, last, info.State.LastSeq, "the kills must have happened mid-stream")
	b.start(cfg)
	b.WaitCheckpoint(readmodel.ProjectionRuns, info.State.LastSeq, 30*time.Second)
	crashed := b.Dump()
	require.Len(t, crashed.Events, len(work), "every event exactly once")
	require.Equal(t, info.State.LastSeq, crashed.Checkpoint)

	// The same events projected in one go, into a fresh database.
	ref := setup(t)
	ref.PublishAll(work)
	ref.start(service.DefaultConfig())
	ref.WaitCheckpoint(readmodel.ProjectionRuns, info.State.LastSeq, 30*time.Second)
	want := ref.Dump()
	require.Equal(t, len(want.Runs), len(crashed.Runs))
	require.Equal(t, stripIDs(want.Runs), stripIDs(crashed.Runs))
	require.Equal(t, stripIDs(want.Events), stripIDs(crashed.Events))
}

// stripIDs drops the ce-id of each event row (each publish makes a new one).
func stripIDs(rows []string) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		var m map[string]any
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			out[i] = r
			continue
		}
		if _, ok := m["run_id"]; ok {
			delete(m, "id")
		}
		out[i] = jsonText(m)
	}
	return out
}

// TestRebuildGivesIdenticalTables projects events live (while more arrive),
// rebuilds, and requires the same rows.
func TestRebuildGivesIdenticalTables(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(service.DefaultConfig())
	work := projtest.Workload(120, 12, 11)
	for i := 0; i < len(work); i += 97 {
		b.PublishAll(work[i:min(i+97, len(work))])
	}
	// A malformed event in the middle is part of the history too, and so
	// are runs that get a second history (the same ids again).
	_, err := b.NATS.JS.Publish(b.Ctx, "phantom.events.run.junk.run.started", []byte("{"))
	require.NoError(t, err)
	last := b.PublishAll(projtest.Workload(10, 3, 12))
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	live := b.Dump()
	// One error row per projection that reads run events (runs, and the
	// scheduler's scheduler_jobs), each for the one malformed event.
	runsErrors := 0
	for _, e := range live.Errors {
		require.Contains(t, e, `"seq": `)
		if strings.Contains(e, `"projection": "runs"`) {
			runsErrors++
		}
	}
	require.Equal(t, 1, runsErrors, live.Errors)
	require.Greater(t, len(live.Runs), 100)

	require.NoError(t, p.svc.Rebuild(b.Ctx, readmodel.ProjectionRuns))
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	rebuilt := b.Dump()
	require.Equal(t, live, rebuilt)
	require.Greater(t, metricValue(t, p.reg, "phantom_projector_consumer_positions_total"),
		metricValue(t, p.reg, "phantom_projector_consumer_positions_total", "reason", "start"),
		"the running projector noticed the reset and repositioned")

	st, err := p.svc.Status(b.Ctx)
	require.NoError(t, err)
	require.Len(t, st, len(service.Projections()))
	require.Equal(t, readmodel.ProjectionRuns, st[0].Projection)
	require.Equal(t, last, st[0].Checkpoint)
	require.Eventually(t, func() bool {
		st, err := p.svc.Status(b.Ctx)
		return err == nil && st[0].CaughtUp
	}, 10*time.Second, 20*time.Millisecond)
}

// TestRedeliveryChangesNothing moves the projector's consumer back to the
// start of the stream under it: the events come again, and nothing changes.
func TestRedeliveryChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(service.DefaultConfig())
	last := b.PublishAll(projtest.Workload(20, 5, 3))
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 20*time.Second)
	before := b.Dump()

	// Recreate the durable at sequence 1, as an operator might by mistake.
	ctx := b.Ctx
	require.NoError(t, b.NATS.JS.DeleteConsumer(ctx, streams.Events, "projector-runs"))
	_, err := b.NATS.JS.CreateConsumer(ctx, streams.Events, jetstream.ConsumerConfig{
		Durable: "projector-runs", FilterSubject: "phantom.events.run.>", AckPolicy: jetstream.AckAllPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	require.NoError(t, err)
	more := b.publish(&events.RunArchived{RunID: "01RUN000000ZZZZZZZZZZZZZZZZ"}, 0, at(0))
	b.WaitCheckpoint(readmodel.ProjectionRuns, more, 20*time.Second)
	after := b.Dump()
	require.Equal(t, before.Events, after.Events[:len(before.Events)])
	require.Len(t, after.Events, len(before.Events)+1)
	require.Equal(t, len(before.Runs), len(after.Runs))
	require.Positive(t, metricValue(t, p.reg, "phantom_projector_consumer_positions_total", "reason", "gap")+
		metricValue(t, p.reg, "phantom_projector_consumer_positions_total", "reason", "fetch_error"))
}

func TestOneActiveInstanceAndTakeover(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cfg := service.DefaultConfig()
	cfg.StandbyRetry = 100 * time.Millisecond
	first := b.start(cfg)
	require.Eventually(t, first.svc.Active, 10*time.Second, 10*time.Millisecond)
	second := b.start(cfg)
	work := projtest.Workload(30, 4, 5)
	last := b.PublishAll(work[:len(work)/2])
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 20*time.Second)
	require.False(t, second.svc.Active(), "the second instance stands by")
	require.Equal(t, 0.0, metricValue(t, second.reg, "phantom_projector_events_applied_total"))

	first.stop()
	require.Eventually(t, second.svc.Active, 10*time.Second, 10*time.Millisecond)
	last = b.PublishAll(work[len(work)/2:])
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 20*time.Second)
	require.Equal(t, len(work), b.Count("run_events"))
	require.Positive(t, metricValue(t, second.reg, "phantom_projector_events_applied_total"))
}

func TestRebuildOfAnUnknownProjectionChangesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(service.DefaultConfig())
	last := b.PublishAll(projtest.Workload(3, 2, 1))
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 10*time.Second)
	before := b.Dump()
	err := p.svc.Rebuild(b.Ctx, "nope")
	require.EqualError(t, err, `projection "nope" does not exist; projections are `+strings.Join(service.Projections(), ", "))
	require.Equal(t, before, b.Dump())
}

func TestConfigIsChecked(t *testing.T) {
	t.Parallel()
	require.NoError(t, service.DefaultConfig().Validate())
	for _, tc := range []struct {
		change func(*service.Config)
		want   string
	}{
		{func(c *service.Config) { c.Batch = 0 }, "PHANTOM_PROJECTOR_BATCH is 0, must be in 1..=10000"},
		{func(c *service.Config) { c.Batch = 10001 }, "PHANTOM_PROJECTOR_BATCH is 10001, must be in 1..=10000"},
		{func(c *service.Config) { c.MaxWait = 20 * time.Second }, "PHANTOM_PROJECTOR_MAX_WAIT is 20s, must be in 1ms..=10s"},
		{func(c *service.Config) { c.Linger = time.Second }, "PHANTOM_PROJECTOR_LINGER is 1s, must be in 100us..=PHANTOM_PROJECTOR_MAX_WAIT (50ms)"},
		{func(c *service.Config) { c.StandbyRetry = time.Hour }, "PHANTOM_PROJECTOR_STANDBY_RETRY is 1h0m0s, must be in 100ms..=1m"},
		{func(c *service.Config) { c.Projections = []string{"runs", "nosuch"} }, `PHANTOM_PROJECTOR_PROJECTIONS names "nosuch", must be among ` + strings.Join(service.Projections(), ", ")},
	} {
		cfg := service.DefaultConfig()
		tc.change(&cfg)
		require.ErrorContains(t, cfg.Validate(), tc.want)
	}
}
