package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	runner "github.com/phantom-run/phantom/services/runner/service"
	worktree "github.com/phantom-run/phantom/services/worktree/service"
)

// childRunnerEnv makes this test binary a runner machine of its own (a
// runner and the worktree service of its host), in a separate OS process, so
// that a test can kill it with SIGKILL.
const childRunnerEnv = "PHANTOM_E2E_RUNNER"

// runnerChildIfRequested runs the child and exits when asked to.
func runnerChildIfRequested() {
	id := os.Getenv(childRunnerEnv)
	if id == "" {
		return
	}
	os.Exit(runnerChild(id))
}

func runnerChild(id string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})).With("runner", id)
	env := func(name string) (daemon.Env, error) {
		nc, js, err := bus.Connect(ctx, bus.Config{URL: os.Getenv("PHANTOM_NATS_URL"), ConnectTimeout: 10 * time.Second}, id+"-"+name, log)
		if err != nil {
			return daemon.Env{}, err
		}
		return daemon.Env{Name: name, Instance: id, Logger: log, Conn: nc, JS: js, Metrics: prometheus.NewRegistry(),
			Checks: opshttp.NewChecks(), Streams: streams.DefaultOptions()}, nil
	}
	wenv, err := env("worktree")
	if err != nil {
		log.Error("no NATS", "error", err)
		return 1
	}
	renv, err := env("runner")
	if err != nil {
		log.Error("no NATS", "error", err)
		return 1
	}
	wt, err := worktree.New(ctx, worktree.Config{Host: id, DataDir: os.Getenv("PHANTOM_DATA_DIR"), GitTimeout: time.Minute, Concurrency: 8}, wenv)
	if err != nil {
		log.Error("no worktree service", "error", err)
		return 1
	}
	rn, err := runner.New(ctx, runner.Config{Host: id, Heartbeat: 300 * time.Millisecond, KillGrace: time.Second, Slots: 2}, renv)
	if err != nil {
		log.Error("no runner", "error", err)
		return 1
	}
	go func() { _ = wt.Run(ctx) }()
	if err := rn.Run(ctx); err != nil {
		log.Error("runner failed", "error", err)
		return 1
	}
	return 0
}

// startRunnerProcess starts a runner machine as a child process.
func startRunnerProcess(t *testing.T, natsURL, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childRunnerEnv+"="+id, "PHANTOM_NATS_URL="+natsURL, "PHANTOM_DATA_DIR="+t.TempDir())
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// withoutRunner is the composition of phantom up without its runner: the
// runners of these tests are processes of their own.
func withoutRunner() []up.Component {
	var out []up.Component
	for _, c := range up.Components() {
		if c.Name != "runner" {
			out = append(out, c)
		}
	}
	return out
}

// A runner process killed mid-run: the scheduler notices it missed three
// heartbeats, fails the attempt with runner_lost, and the retry completes on
// the other runner; nothing is lost or run twice at once.
func TestARunOfAKilledRunnerCompletesOnAnother(t *testing.T) {
	b := setupWith(t, map[string]string{"PHANTOM_SCHEDULER_RETRY_BACKOFF": "100ms"}, withoutRunner())
	runners := map[string]*exec.Cmd{}
	for _, id := range []string{"machine-a", "machine-b"} {
		runners[id] = startRunnerProcess(t, b.host.NATSURL(), id)
	}
	// Both runners are up and heartbeating.
	js, err := b.nc.JetStream()
	require.NoError(t, err)
	kv, err := js.KeyValue(streams.RunnersBucket)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		keys, err := kv.Keys()
		return err == nil && len(keys) == 2
	}, 60*time.Second, 50*time.Millisecond, "both runner processes registered")

	started := make(chan events.RunStarted, 4)
	sub, err := b.nc.Subscribe(subjects.EventsOfType("run", "run.started"), func(m *nats.Msg) {
		var ev events.RunStarted
		if json.Unmarshal(m.Data, &ev) == nil {
			started <- ev
		}
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()

	runID := b.submit(t, map[string]any{"agent": "fake", "prompt": "working sleep=3s", "workspace": t.TempDir(), "isolation": "none", "maxRetries": 2})
	var first events.RunStarted
	select {
	case first = <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the run never started")
	}
	require.Equal(t, runID, first.RunID)
	victim := runners[first.RunnerID]
	require.NotNil(t, victim, "started on %s", first.RunnerID)
	killed := time.Now()
	require.NoError(t, victim.Process.Signal(syscall.SIGKILL))
	// The killed runner's agent is an orphan now; it ends by itself shortly.
	t.Cleanup(func() { _ = syscall.Kill(-first.PID, syscall.SIGKILL) })

	var second events.RunStarted
	select {
	case second = <-started:
	case <-time.After(60 * time.Second):
		t.Fatal("the run was never started again")
	}
	requeued := time.Since(killed)
	require.Equal(t, runID, second.RunID)
	require.Equal(t, 2, second.Attempt)
	require.NotEqual(t, first.RunnerID, second.RunnerID, "the other runner took it")
	run := b.waitStatus(t, runID, "completed")
	require.EqualValues(t, 2, run["attempt"])
	t.Logf("runner killed; the run started again on %s after %s", second.RunnerID, requeued.Round(time.Millisecond))
	require.Less(t, requeued, 30*time.Second, "re-queued within 30 s")

	types := map[string]int{}
	var lost events.RunFailed
	for _, ev := range b.follow(t, runID) {
		types[ev.Type]++
		if ev.Type == "run.failed" {
			require.NoError(t, json.Unmarshal(ev.Data, &lost))
		}
	}
	require.Equal(t, "runner_lost", lost.Reason)
	require.True(t, lost.Retryable)
	require.Equal(t, 2, types["run.dispatched"])
	require.Equal(t, 1, types["run.retry_scheduled"])
	require.Equal(t, 1, types["run.completed"])

	// The fleet read model has the runner lost.
	require.Eventually(t, func() bool {
		resp, data := b.do(t, http.MethodGet, "/v1/runners", nil)
		return resp.StatusCode == http.StatusOK && strings.Contains(string(data), `"status":"lost"`)
	}, 30*time.Second, 50*time.Millisecond)
}

// The HTTP API of the scheduler's area through the whole system: the queue
// with why runs wait, a cancel of a queued run, a rerun, a profile.
func TestQueueCancelRerunAndProfilesEndToEnd(t *testing.T) {
	b := setup(t, map[string]string{"PHANTOM_SCHEDULER_MAX_RUNNING": "1"})
	ws := t.TempDir()
	resp, data := b.do(t, http.MethodPut, "/v1/profiles/quick", map[string]any{"defaults": map[string]any{"agent": "fake", "workspace": ws, "isolation": "none"}})
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)

	busy := b.submit(t, map[string]any{"profile": "quick", "prompt": "sleep=5s"})
	b.waitStatus(t, busy, "running")
	waiting := b.submit(t, map[string]any{"profile": "quick", "prompt": "hello", "priority": 3})
	resp, data = b.do(t, http.MethodGet, "/v1/queue", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	var q api.Queue
	require.NoError(t, json.Unmarshal(data, &q))
	require.True(t, q.Live)
	require.Len(t, q.Jobs, 1)
	require.Equal(t, waiting, q.Jobs[0].RunID)
	require.Equal(t, "provider_limit", q.Jobs[0].Waiting, "one fake at a time")

	resp, data = b.do(t, http.MethodPost, "/v1/runs/"+waiting+"/cancel", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", data)
	require.Contains(t, string(data), `"status":"canceled"`)
	b.waitStatus(t, waiting, "canceled")
	resp, _ = b.do(t, http.MethodPost, "/v1/runs/"+waiting+"/cancel", nil)
	require.Equal(t, http.StatusConflict, resp.StatusCode)

	// The busy run is canceled on its runner.
	resp, data = b.do(t, http.MethodPost, "/v1/runs/"+busy+"/cancel", nil)
	require.Contains(t, []int{http.StatusOK, http.StatusAccepted}, resp.StatusCode, "%s", data)
	b.waitStatus(t, busy, "canceled")

	resp, data = b.do(t, http.MethodPost, "/v1/runs/"+waiting+"/rerun", map[string]any{"prompt": "again"})
	require.Equal(t, http.StatusAccepted, resp.StatusCode, "%s", data)
	var rerun api.Submitted
	require.NoError(t, json.Unmarshal(data, &rerun))
	run := b.waitStatus(t, rerun.RunID, "completed")
	require.Equal(t, waiting, run["rerunOf"])
	require.Equal(t, "again", run["prompt"])
}

// BenchmarkSubmitToSpawned measures the whole path of a run through the
// whole system, as phantom up composes it: from POST /v1/runs to the agent
// process spawned (run.started: the runner appends it right after the
// process started), one run at a time, with a no-op agent (/bin/true, via
// PHANTOM_FAKE_AGENT_COMMAND) in its workspace itself (isolation none), so
// what is measured is Phantom's own path: the gateway, the scheduler's
// decisions and appends, the dispatch, the runner's fetch, the worktree
// RPC, the spawn. It reports p50 and p99, the median of each step (from the
// events' ce-times), and the bare JetStream publish -> pull delivery
// latency in the same run.
func BenchmarkSubmitToSpawned(b *testing.B) {
	tb := setup(b, map[string]string{"PHANTOM_FAKE_AGENT_COMMAND": "true", "PHANTOM_LOG_LEVEL": "error"})
	type stamp struct {
		typ string
		at  time.Time
	}
	stamps := make(chan stamp, 1024)
	sub, err := tb.nc.Subscribe(subjects.AllEvents, func(m *nats.Msg) {
		env, err := envelope.FromHeader(m.Header, m.Data)
		if err == nil {
			stamps <- stamp{typ: env.Type, at: env.Time}
		}
	})
	require.NoError(b, err)
	defer func() { _ = sub.Unsubscribe() }()
	ws := b.TempDir()
	const runs = 200
	lat := make([]time.Duration, 0, runs)
	steps := map[string][]time.Duration{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for r := 0; r < runs; r++ {
			for len(stamps) > 0 {
				<-stamps
			}
			t0 := time.Now()
			id := tb.submit(b, map[string]any{"agent": "fake", "prompt": "ok", "workspace": ws, "isolation": "none"})
			seen := map[string]time.Time{}
			for s := range stamps {
				if _, dup := seen[s.typ]; !dup {
					seen[s.typ] = s.at
				}
				if s.typ == "run.started" {
					break
				}
			}
			lat = append(lat, seen["run.started"].Sub(t0))
			prev, prevAt := "post", t0
			for _, typ := range []string{"run.requested", "run.queued", "run.dispatched", "run.started"} {
				at, ok := seen[typ]
				if !ok {
					continue
				}
				steps[prev+" -> "+typ] = append(steps[prev+" -> "+typ], at.Sub(prevAt))
				prev, prevAt = typ, at
			}
			tb.waitStatus(b, id, "completed")
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	base := bareLatency(b, tb.host.NATSURL())
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(base.Microseconds())/1000, "bare-js-p50-ms")
	var parts []string
	for _, k := range []string{"post -> run.requested", "run.requested -> run.queued", "run.queued -> run.dispatched", "run.dispatched -> run.started"} {
		d := steps[k]
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		if len(d) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", k, d[len(d)/2].Round(10*time.Microsecond)))
		}
	}
	b.Logf("POST /v1/runs -> agent spawned (no-op agent, isolation none) over %d runs: p50 %s p99 %s; median steps: %s; bare JetStream publish->consume p50 %s",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], strings.Join(parts, ", "), base)
}
