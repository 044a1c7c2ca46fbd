package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/fakeagent"
	"github.com/phantom-run/phantom/services/runner/service"
)

// TestMain lets this test binary be the fake agent the runner launches.
func TestMain(m *testing.M) {
	fakeagent.MainIfRequested()
	benchRunnerMain()
	os.Exit(m.Run())
}

const host = "testhost"

type bundle struct {
	t     testing.TB
	ctx   context.Context
	nats  *testenv.NATS
	guard *testenv.Guard
	pub   *bus.Publisher
}

// setup starts NATS, a stand-in for the safety guard (it allows every
// command unless a test says otherwise) and the host's worktree service (its
// own binary, as on a runner's machine).
func setup(t testing.TB) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	b := &bundle{t: t, ctx: ctx, nats: testenv.StartNATS(t)}
	b.guard = testenv.StartGuard(t, b.nats.Conn)
	b.pub = bus.NewPublisher(b.nats.JS, "phantom/scheduler/test")
	testenv.StartService(t, b.nats, "github.com/phantom-run/phantom/services/worktree",
		[]string{"PHANTOM_HOST=" + host, "PHANTOM_DATA_DIR=" + t.TempDir()}, b.worktreeAnswers)
	return b
}

// worktreeAnswers: the host's worktree service answers (a request it
// cannot decode, which changes nothing).
func (b *bundle) worktreeAnswers() bool {
	_, err := b.nats.Conn.Request(rpc.WorktreePrepareSubject(host), []byte("ready?"), time.Second)
	return err == nil
}

// run runs a service until the test ends and checks that it stops in time.
func (b *bundle) run(t testing.TB, name string, run func(context.Context) error, parent context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(parent)
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err, name)
			case <-time.After(45 * time.Second):
				t.Errorf("%s did not stop within 45s", name)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

type runner struct {
	id   string
	stop func()
	reg  *prometheus.Registry
}

// startRunner starts a runner with test-friendly defaults.
func (b *bundle) startRunner(id string, cfg service.Config) *runner {
	b.t.Helper()
	cfg.Host = host
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 2 * time.Second
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 500 * time.Millisecond
	}
	reg := prometheus.NewRegistry()
	env := daemon.Env{Name: "runner", Instance: id, Logger: testenv.Logger(b.t).With("runner", id), Conn: b.nats.Conn,
		JS: b.nats.JS, Metrics: reg}
	svc, err := service.New(b.ctx, cfg, env)
	require.NoError(b.t, err)
	require.Equal(b.t, id, svc.ID())
	return &runner{id: id, reg: reg, stop: b.run(b.t, "runner "+id, svc.Run, context.Background())}
}

// dispatch releases attempt 1 of a run to the default pool, as the scheduler does.
func (b *bundle) dispatch(runID string, spec runs.Spec, edit ...func(*commands.Dispatch)) {
	b.t.Helper()
	if spec.Agent == "" {
		spec.Agent = "fake"
	}
	d := commands.Dispatch{RunID: runID, Attempt: 1, Spec: spec, Pool: spec.PoolOrDefault(), Provider: spec.ProviderOrAgent()}
	for _, e := range edit {
		e(&d)
	}
	_, err := b.pub.Command(b.ctx, d, bus.WithID(fmt.Sprintf("dispatch-%s-%d", runID, d.Attempt)))
	require.NoError(b.t, err)
}

// events reads a run's events until its attempt's end (a terminal event or
// any run.failed), within a bound.
func (b *bundle) events(runID string, within time.Duration) []bus.Event {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, runID)},
	})
	require.NoError(b.t, err)
	var out []bus.Event
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		batch, err := c.Fetch(500, jetstream.FetchMaxWait(200*time.Millisecond))
		require.NoError(b.t, err)
		for msg := range batch.Messages() {
			ev, err := bus.DecodeEvent(msg)
			require.NoError(b.t, err)
			require.Equal(b.t, "1", ev.Extensions["attempt"], "%s carries its attempt", ev.Type)
			out = append(out, ev)
			if _, failed := ev.Payload.(*events.RunFailed); failed || events.Terminal(ev.Payload) {
				return out
			}
		}
	}
	b.t.Fatalf("run %s did not end within %s; events: %v", runID, within, types(out))
	return nil
}

// waitFor reads a run's events until one of type typ.
func (b *bundle) waitFor(runID, typ string, within time.Duration) bus.Event {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, typ)},
	})
	require.NoError(b.t, err)
	msg, err := c.Next(jetstream.FetchMaxWait(within))
	require.NoError(b.t, err, "waiting for %s of run %s", typ, runID)
	ev, err := bus.DecodeEvent(msg)
	require.NoError(b.t, err)
	return ev
}

func types(evs []bus.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// withoutChunks is the sequence of event types with runs of chunks squashed
// and the parsed events (run.semantic, tested on their own) left out.
func withoutChunks(evs []bus.Event) []string {
	var out []string
	for _, t := range types(evs) {
		if t == "run.semantic" {
			continue
		}
		if strings.HasPrefix(t, "run.chunk.") && len(out) > 0 && out[len(out)-1] == t {
			continue
		}
		out = append(out, t)
	}
	return out
}

func find[T any](t *testing.T, evs []bus.Event) T {
	t.Helper()
	for _, ev := range evs {
		if p, ok := ev.Payload.(T); ok {
			return p
		}
	}
	var zero T
	t.Fatalf("no %T among %v", zero, types(evs))
	return zero
}

// stdout concatenates the run's stdout chunks, checking seq and offsets
// (positions in the redacted stream: equal to the concatenation's length
// unless lines were truncated).
func stdout(t *testing.T, evs []bus.Event) (string, int) {
	return stdoutChecked(t, evs, true)
}

func stdoutChecked(t *testing.T, evs []bus.Event, offsets bool) (string, int) {
	t.Helper()
	var b strings.Builder
	n := 0
	for _, ev := range evs {
		if c, ok := ev.Payload.(*events.RunChunkStdout); ok {
			n++
			require.Equal(t, int64(n), c.Seq, "chunks numbered without gaps")
			if offsets {
				require.Equal(t, int64(b.Len()), c.Offset, "offset is the byte offset in the stream")
			}
			b.WriteString(c.Data)
		}
	}
	return b.String(), n
}

func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"commit", "-q", "--allow-empty", "-m", "first"}} {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	return dir
}

// groupGone reports whether no live process of the group led by pid is
// left. Zombies do not count: orphans are reaped by the machine's init,
// which in a container may never do it.
func groupGone(t *testing.T, pid int) bool {
	t.Helper()
	if errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) {
		return true
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(fields) > 2 && fields[2] == fmt.Sprint(pid) && fields[0] != "Z" {
			return false
		}
	}
	return true
}

// waitForOutput waits until the run's stdout holds text.
func (b *bundle) waitForOutput(runID, text string, within time.Duration) {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, "run.chunk.stdout")},
	})
	require.NoError(b.t, err)
	var out strings.Builder
	deadline := time.Now().Add(within)
	for !strings.Contains(out.String(), text) {
		require.True(b.t, time.Now().Before(deadline), "run %s did not print %q within %s", runID, text, within)
		msg, err := c.Next(jetstream.FetchMaxWait(time.Until(deadline)))
		require.NoError(b.t, err)
		ev, err := bus.DecodeEvent(msg)
		require.NoError(b.t, err)
		out.WriteString(ev.Payload.(*events.RunChunkStdout).Data)
	}
}

func TestRunCompletesInAWorktreeWithBatchedOutput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-ok", service.Config{})
	repo := gitRepo(t)
	b.dispatch("run-ok", runs.Spec{Prompt: "all done lines=1000", Workspace: repo})

	evs := b.events("run-ok", 30*time.Second)
	require.Equal(t, []string{"run.worktree_prepared", "run.started", "run.chunk.stdout", "run.cli_exit", "run.runner_metrics", "run.completed"},
		withoutChunks(evs))

	wt := find[*events.RunWorktreePrepared](t, evs)
	started := find[*events.RunStarted](t, evs)
	require.Equal(t, "r-ok", started.RunnerID)
	require.Equal(t, host, started.Host)
	require.Positive(t, started.PID)
	require.Equal(t, wt.Path, started.Cwd, "the agent runs in the run's worktree")
	require.Equal(t, []string{"all done lines=1000"}, started.Argv[1:])

	out, chunks := stdout(t, evs)
	require.Less(t, chunks, 50, "1000 lines are batched into far fewer chunk events")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.Len(t, lines, 1+1000+1+1, "init, 1000 lines, the answer, the result")
	for i, line := range lines {
		var ev map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &ev), "line %d is the agent's JSON, whole", i)
		if i >= 1 && i <= 1000 {
			require.Equal(t, fmt.Sprintf("line %d of 1000", i), ev["message"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"])
		}
	}
	var init map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &init))
	require.Equal(t, wt.Path, init["cwd"])

	exit := find[*events.RunCLIExit](t, evs)
	require.Equal(t, 0, exit.ExitCode)
	require.Empty(t, exit.Signal)
	m := find[*events.RunRunnerMetrics](t, evs)
	require.Equal(t, int64(len(out)), m.StdoutBytes)
	require.Equal(t, int64(1003), m.Lines)
	require.Equal(t, int64(chunks), m.Chunks)
	require.Positive(t, m.PeakRSSBytes)
	done := find[*events.RunCompleted](t, evs)
	require.Equal(t, "all done", done.Result, "the final answer is read from the result line")
}

func TestRawOutputArrivesExactly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-raw", service.Config{ChunkBytes: 4096})
	b.dispatch("run-raw", runs.Spec{Prompt: "bytes=300000", Workspace: t.TempDir(), Isolation: "none"})
	evs := b.events("run-raw", 30*time.Second)
	out, chunks := stdout(t, evs)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	raw := 0
	for _, l := range lines[1 : len(lines)-2] {
		require.Equal(t, strings.Repeat("x", len(l)), l)
		raw += len(l) + 1
	}
	require.Equal(t, 300000, raw)
	for _, ev := range evs {
		if c, ok := ev.Payload.(*events.RunChunkStdout); ok {
			require.LessOrEqual(t, len(c.Data), 4096)
		}
	}
	require.GreaterOrEqual(t, chunks, 300000/4096)
	find[*events.RunCompleted](t, evs)
}

func TestNonZeroExitFailsWithAgentError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-exit", service.Config{})
	b.dispatch("run-exit", runs.Spec{Prompt: "nope exit=3 stderr=it broke", Workspace: t.TempDir()},
		func(d *commands.Dispatch) { d.RetriesLeft = 2 })
	evs := b.events("run-exit", 30*time.Second)
	stderr := find[*events.RunChunkStderr](t, evs)
	require.Equal(t, "it broke\n", stderr.Data)
	require.Equal(t, int64(1), stderr.Seq)
	require.Equal(t, 3, find[*events.RunCLIExit](t, evs).ExitCode)
	failed := find[*events.RunFailed](t, evs)
	require.Equal(t, runs.ReasonAgentError, failed.Reason)
	require.NotNil(t, failed.ExitCode)
	require.Equal(t, 3, *failed.ExitCode)
	require.False(t, failed.Retryable, "agent_error is not retryable, retries left or not")
	require.Contains(t, failed.Message, "exited with code 3: it broke")
}

func TestCrashBySignalFailsKilled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-crash", service.Config{})
	b.dispatch("run-crash", runs.Spec{Prompt: "crash=TERM", Workspace: t.TempDir()}, func(d *commands.Dispatch) { d.RetriesLeft = 3 })
	evs := b.events("run-crash", 30*time.Second)
	exit := find[*events.RunCLIExit](t, evs)
	require.Equal(t, -1, exit.ExitCode)
	require.Equal(t, "SIGTERM", exit.Signal)
	failed := find[*events.RunFailed](t, evs)
	require.Equal(t, runs.ReasonKilled, failed.Reason)
	require.Nil(t, failed.ExitCode)
	require.False(t, failed.Retryable)
	require.Contains(t, failed.Message, "ended by SIGTERM")
}

func TestMissingCLI(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-cli", service.Config{FakeAgentCommand: "/nonexistent/phantom-fake-agent"})
	b.dispatch("run-cli", runs.Spec{Prompt: "hi", Workspace: t.TempDir()})
	evs := b.events("run-cli", 30*time.Second)
	require.Equal(t, []string{"run.cli_missing", "run.failed"}, types(evs))
	missing := find[*events.RunCLIMissing](t, evs)
	require.Equal(t, "fake", missing.Agent)
	require.NotEmpty(t, missing.Install)
	require.Equal(t, runs.ReasonCLIMissing, find[*events.RunFailed](t, evs).Reason)

	if _, err := exec.LookPath("claude"); err == nil {
		t.Log("claude is installed here: its cli_missing case is not checked")
		return
	}
	b.dispatch("run-claude", runs.Spec{Agent: "claude", Prompt: "hi", Workspace: t.TempDir()})
	evs = b.events("run-claude", 30*time.Second)
	require.Equal(t, "npm install -g @anthropic-ai/claude-code", find[*events.RunCLIMissing](t, evs).Install)
	require.Contains(t, find[*events.RunFailed](t, evs).Message, "npm install -g @anthropic-ai/claude-code")
}

func TestMissingWorkspace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-cwd", service.Config{})
	ws := filepath.Join(t.TempDir(), "gone")
	b.dispatch("run-cwd", runs.Spec{Prompt: "hi", Workspace: ws})
	evs := b.events("run-cwd", 30*time.Second)
	require.Equal(t, []string{"run.cwd_missing", "run.failed"}, types(evs))
	require.Equal(t, ws, find[*events.RunCWDMissing](t, evs).Cwd)
	require.Equal(t, runs.ReasonCWDMissing, find[*events.RunFailed](t, evs).Reason)

	b.dispatch("run-agent", runs.Spec{Agent: "nosuch", Prompt: "hi", Workspace: t.TempDir()})
	failed := find[*events.RunFailed](t, b.events("run-agent", 30*time.Second))
	require.Equal(t, runs.ReasonInvalidRequest, failed.Reason)
	require.Contains(t, failed.Message, `agent "nosuch" is not known`)
}

func (b *bundle) cancel(runnerID, runID string, attempt int) {
	b.t.Helper()
	_, err := b.pub.Command(b.ctx, commands.RunnerCancel{RunnerID: runnerID, RunID: runID, Attempt: attempt, Reason: "user asked", By: "tester"})
	require.NoError(b.t, err)
}

func TestCancelStopsTheProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-cancel", service.Config{KillGrace: 2 * time.Second})
	// The agent waits in a tool that started a child: the whole group must go.
	b.dispatch("run-cancel", runs.Spec{Prompt: "tool=Bash:sleep 30 tool-exec=1", Workspace: t.TempDir()})
	started := b.waitFor("run-cancel", "run.started", 20*time.Second).Payload.(*events.RunStarted)
	b.waitForOutput("run-cancel", `"tool_use"`, 20*time.Second)
	require.False(t, groupGone(t, started.PID))

	b.cancel("r-cancel", "run-cancel", 2) // a stale attempt: ignored
	time.Sleep(200 * time.Millisecond)
	require.False(t, groupGone(t, started.PID), "a cancel of another attempt changes nothing")

	at := time.Now()
	b.cancel("r-cancel", "run-cancel", 1)
	evs := b.events("run-cancel", 20*time.Second)
	require.Less(t, time.Since(at), 2*time.Second+time.Second, "canceled within the grace")
	canceled := find[*events.RunCanceled](t, evs)
	require.Equal(t, "user asked", canceled.Reason)
	require.Equal(t, "tester", canceled.By)
	require.Equal(t, "SIGINT", find[*events.RunCLIExit](t, evs).Signal)
	require.True(t, groupGone(t, started.PID), "no process of the agent's group is left")
	require.Equal(t, []string{"run.started", "run.chunk.stdout", "run.cli_exit", "run.runner_metrics", "run.canceled"}, withoutChunks(evs))
}

func TestCancelEscalatesToKill(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-kill", service.Config{KillGrace: time.Second})
	b.dispatch("run-kill", runs.Spec{Prompt: "trap=1 sleep=30s", Workspace: t.TempDir()})
	started := b.waitFor("run-kill", "run.started", 20*time.Second).Payload.(*events.RunStarted)
	// Its first line says it is up, with its signal handling in place.
	b.waitForOutput("run-kill", `"subtype":"init"`, 20*time.Second)
	at := time.Now()
	b.cancel("r-kill", "run-kill", 1)
	evs := b.events("run-kill", 20*time.Second)
	took := time.Since(at)
	require.GreaterOrEqual(t, took, time.Second, "an agent ignoring SIGINT and SIGTERM lasts the grace")
	require.Less(t, took, 3*time.Second)
	require.Equal(t, "SIGKILL", find[*events.RunCLIExit](t, evs).Signal)
	find[*events.RunCanceled](t, evs)
	require.True(t, groupGone(t, started.PID))
}

func TestDeadlineFailsWithTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-deadline", service.Config{})
	deadline := time.Now().Add(1500 * time.Millisecond)
	b.dispatch("run-deadline", runs.Spec{Prompt: "sleep=30s", Workspace: t.TempDir()},
		func(d *commands.Dispatch) { d.Deadline = &deadline })
	evs := b.events("run-deadline", 20*time.Second)
	failed := find[*events.RunFailed](t, evs)
	require.Equal(t, runs.ReasonTimeout, failed.Reason)
	require.False(t, failed.Retryable)
	require.WithinDuration(t, deadline, evs[len(evs)-1].Time, 2*time.Second)

	past := time.Now().Add(-time.Second)
	b.dispatch("run-late", runs.Spec{Prompt: "hi", Workspace: t.TempDir()}, func(d *commands.Dispatch) { d.Deadline = &past })
	evs = b.events("run-late", 20*time.Second)
	require.Equal(t, []string{"run.failed"}, types(evs), "a dispatch past its deadline never starts")
	require.Equal(t, runs.ReasonTimeout, find[*events.RunFailed](t, evs).Reason)
}

func TestLongLinesAreTruncatedWithAWarning(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-long", service.Config{MaxLineBytes: 1024})
	b.dispatch("run-long", runs.Spec{Prompt: "tool=Bash:echo " + strings.Repeat("y", 3000), Workspace: t.TempDir()})
	evs := b.events("run-long", 20*time.Second)
	w := find[*events.RunWarning](t, evs)
	require.Equal(t, "line_truncated", w.Code)
	out, _ := stdoutChecked(t, evs, false)
	cut := 0
	for _, line := range strings.Split(out, "\n") {
		require.LessOrEqual(t, len(line), 1024)
		if len(line) == 1024 {
			cut++
		}
	}
	require.Equal(t, 4, cut, "the tool use, its result, the answer and the result line each hold the long text")
	// The metrics count what the agent printed, what was dropped included.
	require.Greater(t, find[*events.RunRunnerMetrics](t, evs).StdoutBytes, int64(len(out)))
	find[*events.RunCompleted](t, evs)
}

func TestTwoRunnersShareAPoolWithinTheirSlots(t *testing.T) {
	t.Parallel()
	b := setup(t)
	slots := map[string]int{"r-a": 2, "r-b": 1}
	for id, n := range slots {
		b.startRunner(id, service.Config{Slots: n})
	}
	const n = 9
	for i := range n {
		b.dispatch(fmt.Sprintf("share-%d", i), runs.Spec{Prompt: "sleep=400ms", Workspace: t.TempDir(), Isolation: "none"})
	}
	for i := range n {
		find[*events.RunCompleted](t, b.events(fmt.Sprintf("share-%d", i), 60*time.Second))
	}

	// Replay every start and end in stream order: no runner ever held more
	// attempts than its slots, and both took work.
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.EventsOfType(events.AggregateRun, "run.started"), subjects.EventsOfType(events.AggregateRun, "run.completed")},
	})
	require.NoError(t, err)
	owner := map[string]string{}
	running, peak, total := map[string]int{}, map[string]int{}, map[string]int{}
	for seen := 0; seen < 2*n; {
		batch, err := c.Fetch(100, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		got := 0
		for msg := range batch.Messages() {
			got++
			ev, err := bus.DecodeEvent(msg)
			require.NoError(t, err)
			switch p := ev.Payload.(type) {
			case *events.RunStarted:
				owner[p.RunID] = p.RunnerID
				running[p.RunnerID]++
				total[p.RunnerID]++
				peak[p.RunnerID] = max(peak[p.RunnerID], running[p.RunnerID])
			case *events.RunCompleted:
				running[owner[p.RunID]]--
			}
		}
		require.Positive(t, got, "all starts and completions are in the stream")
		seen += got
	}
	for id, limit := range slots {
		require.LessOrEqual(t, peak[id], limit, "runner %s never exceeds its %d slots", id, limit)
		require.Positive(t, total[id], "runner %s took work", id)
	}
	require.Equal(t, n, total["r-a"]+total["r-b"])
}

func TestRegistrationAndDrainOnShutdown(t *testing.T) {
	b := setup(t)
	kv, err := b.nats.JS.KeyValue(b.ctx, streams.RunnersBucket)
	require.NoError(t, err)

	// The runner gets a connection of its own, so that what it leaves behind
	// (goroutines, consumers) is its own.
	nc, js := b.nats.Connect(t)
	reg := prometheus.NewRegistry()
	env := daemon.Env{Name: "runner", Instance: "r-drain", Logger: testenv.Logger(t), Conn: nc, JS: js, Metrics: reg}
	svc, err := service.New(b.ctx, service.Config{Host: host, DrainTimeout: 3 * time.Second, KillGrace: time.Second,
		Heartbeat: 200 * time.Millisecond, Slots: 3}, env)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	regEv := b.waitForAggregate(events.AggregateRunner, "r-drain", "runner.registered")
	require.Equal(t, 3, regEv.Payload.(*events.RunnerRegistered).Slots)

	// One quick run finishes during the drain; one long one is handed back.
	b.dispatch("run-long", runs.Spec{Prompt: "sleep=30s", Workspace: t.TempDir()}, func(d *commands.Dispatch) { d.RetriesLeft = 1 })
	started := b.waitFor("run-long", "run.started", 20*time.Second).Payload.(*events.RunStarted)
	require.Eventually(t, func() bool {
		e, err := kv.Get(b.ctx, "r-drain")
		if err != nil {
			return false
		}
		var entry streams.RunnerEntry
		require.NoError(t, json.Unmarshal(e.Value(), &entry))
		return len(entry.Running) == 1 && entry.Running[0] == streams.RunnerAttempt{RunID: "run-long", Attempt: 1} && entry.Host == host
	}, 5*time.Second, 50*time.Millisecond, "the registry entry lists the running attempt")
	b.dispatch("run-quick", runs.Spec{Prompt: "sleep=100ms", Workspace: t.TempDir()})
	b.waitFor("run-quick", "run.started", 20*time.Second)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not drain within 30s")
	}
	find[*events.RunCompleted](t, b.events("run-quick", 5*time.Second))
	failed := find[*events.RunFailed](t, b.events("run-long", 5*time.Second))
	require.Equal(t, runs.ReasonRunnerLost, failed.Reason)
	require.True(t, failed.Retryable, "runner_lost with retries left is retryable")
	require.True(t, groupGone(t, started.PID))
	drained := b.waitForAggregate(events.AggregateRunner, "r-drain", "runner.drained").Payload.(*events.RunnerDrained)
	require.Equal(t, []string{"run-long"}, drained.Runs)
	_, err = kv.Get(b.ctx, "r-drain")
	require.ErrorIs(t, err, jetstream.ErrKeyNotFound, "the registry entry is deleted")
	// Every goroutine the runner started has ended with Run, its attempts'
	// publishers included, while its connection is still open.
	require.Eventually(t, func() bool { return len(runnerGoroutines()) == 0 }, 5*time.Second, 50*time.Millisecond,
		"goroutines left: %v", runnerGoroutines())
	nc.Close()
}

// runnerGoroutines returns the stacks of goroutines running the runner's
// code, a JetStream consumer loop or an async publisher's reconnect watch
// (only the runner consumes and publishes that way here).
func runnerGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "phantom/services/runner/internal") || strings.Contains(g, "phantom/services/runner/service.") ||
			strings.Contains(g, "jetstream.(*pullSubscription)") || strings.Contains(g, "resetPendingAcksOnReconnect") {
			out = append(out, g)
		}
	}
	return out
}

func (b *bundle) waitForAggregate(aggregate, id, typ string) bus.Event {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(aggregate, id, typ)},
	})
	require.NoError(b.t, err)
	msg, err := c.Next(jetstream.FetchMaxWait(10 * time.Second))
	require.NoError(b.t, err, "waiting for %s", typ)
	ev, err := bus.DecodeEvent(msg)
	require.NoError(b.t, err)
	return ev
}

func TestBadConfigurationNamesTheVariable(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	env := daemon.Env{Name: "runner", Instance: "r-bad", Logger: testenv.Logger(t), Conn: n.Conn, JS: n.JS, Metrics: prometheus.NewRegistry()}
	ctx := context.Background()
	for cfg, want := range map[*service.Config]string{
		{Slots: 1000}:                      "PHANTOM_RUNNER_SLOTS 1000 must be in 1..256",
		{Pool: "a.b"}:                      "PHANTOM_RUNNER_POOL",
		{Host: "my host"}:                  "PHANTOM_HOST",
		{ChunkBytes: 10}:                   "PHANTOM_RUNNER_CHUNK_BYTES 10 must be in 1024..524288",
		{KillGrace: time.Nanosecond}:       "PHANTOM_RUNNER_KILL_GRACE",
		{Heartbeat: 5 * time.Second}:       "must be shorter than the phantom_runners bucket's TTL 3s",
		{CommandsInactive: time.Second}:    "PHANTOM_RUNNER_COMMANDS_INACTIVE",
		{PrepareTimeout: time.Millisecond}: "PHANTOM_RUNNER_PREPARE_TIMEOUT",
		{DrainTimeout: 2 * time.Hour}:      "PHANTOM_RUNNER_DRAIN_TIMEOUT",
		{ChunkInterval: time.Minute}:       "PHANTOM_RUNNER_CHUNK_INTERVAL",
		{MaxLineBytes: 1}:                  "PHANTOM_RUNNER_MAX_LINE_BYTES",
		{PublishWindow: 5000}:              "PHANTOM_RUNNER_PUBLISH_WINDOW",
	} {
		_, err := service.New(ctx, *cfg, env)
		require.ErrorContains(t, err, want)
	}
}
