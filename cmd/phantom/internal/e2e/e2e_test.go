package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/cli"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/fakeagent"
)

func TestMain(m *testing.M) {
	// Agents run the safety guard's hook as this test binary (the runner
	// names os.Executable() in their settings).
	cli.GuardHookIfRequested()
	// The runner launches the fake agent as this test binary.
	fakeagent.MainIfRequested()
	// Some tests run runner machines as processes of this test binary.
	runnerChildIfRequested()
	os.Exit(m.Run())
}

type testBundle struct {
	ctx  context.Context
	host *up.Host
	nc   *nats.Conn
	http *http.Client
}

// setup starts the whole of Phantom, as `phantom up` composes it, on free
// ports with a fresh data dir and database.
func setup(t testing.TB, env map[string]string) *testBundle {
	t.Helper()
	return setupWith(t, env, up.Components())
}

// setupWith is setup with a chosen composition.
func setupWith(t testing.TB, env map[string]string, components []up.Component) *testBundle {
	t.Helper()
	return start(t, env, components, testenv.Logger(t))
}

// setupLogged is setup with the services logging to log.
func setupLogged(t testing.TB, env map[string]string, log *slog.Logger) *testBundle {
	t.Helper()
	return start(t, env, up.Components(), log)
}

func start(t testing.TB, env map[string]string, components []up.Component, log *slog.Logger) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	vars := map[string]string{
		"PHANTOM_DATA_DIR":     t.TempDir(),
		"PHANTOM_HTTP_ADDR":    "127.0.0.1:0",
		"PHANTOM_NATS_LISTEN":  "127.0.0.1:0",
		"PHANTOM_DATABASE_URL": testenv.Postgres(t),
		"PHANTOM_LOG_LEVEL":    "warn",
	}
	for k, v := range env {
		vars[k] = v
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
	settings, err := up.LoadSettings()
	require.NoError(t, err)
	h, err := up.Start(ctx, up.Options{Settings: settings, Components: components, Logger: log})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Stop()) })
	nc, err := nats.Connect(h.NATSURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return &testBundle{ctx: ctx, host: h, nc: nc, http: &http.Client{Timeout: 2 * time.Minute}}
}

func (b *testBundle) do(t testing.TB, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.host.URL()+path, r)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.host.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, data
}

func (b *testBundle) submit(t testing.TB, spec map[string]any) string {
	t.Helper()
	resp, data := b.do(t, http.MethodPost, "/v1/runs", spec)
	require.Equal(t, http.StatusAccepted, resp.StatusCode, string(data))
	var out api.Submitted
	require.NoError(t, json.Unmarshal(data, &out))
	require.NotEmpty(t, out.RunID)
	return out.RunID
}

// follow reads a run's event stream until the gateway ends it (after the
// terminal event).
func (b *testBundle) follow(t testing.TB, runID string) []api.RunEvent {
	t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.host.URL()+"/v1/runs/"+runID+"/events", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+b.host.Token())
	resp, err := b.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var out []api.RunEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev api.RunEvent
			require.NoError(t, json.Unmarshal([]byte(data), &ev))
			out = append(out, ev)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

func (b *testBundle) waitStatus(t testing.TB, runID, status string) map[string]any {
	t.Helper()
	var run map[string]any
	require.Eventually(t, func() bool {
		resp, data := b.do(t, http.MethodGet, "/v1/runs/"+runID, nil)
		if resp.StatusCode != http.StatusOK {
			return false
		}
		require.NoError(t, json.Unmarshal(data, &run))
		return run["status"] == status
	}, 30*time.Second, 20*time.Millisecond, "run %s never reached %s (last: %v)", runID, status, run)
	return run
}

func TestOneRunEndToEnd(t *testing.T) {
	b := setup(t, nil)

	// An outside subscriber, as `nats sub 'phantom.events.>'`.
	var mu sync.Mutex
	var seen []*nats.Msg
	sub, err := b.nc.Subscribe(subjects.AllEvents, func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, m)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	require.NoError(t, b.nc.Flush())

	runID := b.submit(t, map[string]any{"agent": "fake", "prompt": "hi there lines=3 stderr=careful", "workspace": t.TempDir()})
	stream := b.follow(t, runID)

	var stdout, stderr strings.Builder
	var types []string
	for i, ev := range stream {
		types = append(types, ev.Type)
		if i > 0 {
			require.Greater(t, ev.Seq, stream[i-1].Seq, "stream sequences ascend")
		}
		var chunk struct{ Data string }
		switch ev.Type {
		case "run.chunk.stdout":
			require.NoError(t, json.Unmarshal(ev.Data, &chunk))
			stdout.WriteString(chunk.Data)
		case "run.chunk.stderr":
			require.NoError(t, json.Unmarshal(ev.Data, &chunk))
			stderr.WriteString(chunk.Data)
		}
	}
	require.Equal(t, "run.requested", types[0])
	require.Equal(t, "run.completed", types[len(types)-1])
	for _, want := range []string{"run.queued", "run.dispatched", "run.started", "run.chunk.stdout", "run.chunk.stderr", "run.cli_exit", "run.runner_metrics"} {
		require.Contains(t, types, want)
	}
	require.Contains(t, stdout.String(), `"text":"hi there"`)
	require.Contains(t, stdout.String(), `"type":"result"`)
	require.Contains(t, stderr.String(), "careful")

	run := b.waitStatus(t, runID, "completed")
	require.EqualValues(t, 0, run["exitCode"])
	require.Equal(t, "fake", run["agent"])
	require.NotEmpty(t, run["startedAt"])
	require.NotEmpty(t, run["finishedAt"])

	resp, data := b.do(t, http.MethodGet, "/v1/runs?limit=10", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(data), runID)

	// Every event the subscriber saw is a CloudEvent on its own subject, and
	// the run's events all belong to the trace of the request that caused them.
	mu.Lock()
	defer mu.Unlock()
	traces := map[string]bool{}
	runEvents := 0
	for _, m := range seen {
		env, err := envelope.FromHeader(m.Header, m.Data)
		require.NoError(t, err, m.Subject)
		require.Equal(t, env.ID, m.Header.Get(nats.MsgIdHdr), m.Subject)
		require.Equal(t, "application/json", m.Header.Get("content-type"))
		require.False(t, env.Time.IsZero(), m.Subject)
		p, err := subjects.ParseEvent(m.Subject)
		require.NoError(t, err)
		require.Equal(t, p.Type, env.Type)
		require.Equal(t, p.ID, env.Subject)
		require.True(t, json.Valid(m.Data), m.Subject)
		if p.Aggregate == "run" && p.ID == runID {
			runEvents++
			require.NotEmpty(t, env.TraceParent, "%s carries no traceparent", env.Type)
			traces[strings.Split(env.TraceParent, "-")[1]] = true
		}
	}
	require.Equal(t, len(stream), runEvents, "the subscriber saw every event the run's stream has")
	require.Len(t, traces, 1, "one trace from the request to the agent's exit")
}

func TestAFailedRunAndHistoryAcrossARestart(t *testing.T) {
	dataDir := t.TempDir()
	dbURL := testenv.Postgres(t)
	env := map[string]string{"PHANTOM_DATA_DIR": dataDir, "PHANTOM_DATABASE_URL": dbURL}
	b := setup(t, env)
	runID := b.submit(t, map[string]any{"agent": "fake", "prompt": "exit=3 stderr=boom", "workspace": t.TempDir()})
	stream := b.follow(t, runID)
	last := stream[len(stream)-1]
	require.Equal(t, "run.failed", last.Type)
	run := b.waitStatus(t, runID, "failed")
	require.EqualValues(t, 3, run["exitCode"])
	require.Equal(t, "agent_error", run["reason"])
	require.NoError(t, b.host.Stop())

	// The same data dir and database: the history is still there, and the
	// event stream replays from the kept NATS store.
	b2 := setup(t, env)
	run = b2.waitStatus(t, runID, "failed")
	require.EqualValues(t, 3, run["exitCode"])
	again := b2.follow(t, runID)
	require.Equal(t, len(stream), len(again))
}

// BenchmarkSubmitToStarted measures the time from POST /v1/runs to the run's
// run.started event (the agent process spawned), one run at a time with the
// fake agent, against the bare JetStream publish -> pull-consumer delivery
// latency measured in the same run.
func BenchmarkSubmitToStarted(b *testing.B) {
	tb := setup(b, nil)
	started := make(chan string, 16)
	sub, err := tb.nc.Subscribe(subjects.EventsOfType("run", "run.started"), func(m *nats.Msg) {
		p, err := subjects.ParseEvent(m.Subject)
		if err == nil {
			started <- p.ID
		}
	})
	require.NoError(b, err)
	defer func() { _ = sub.Unsubscribe() }()
	ws := b.TempDir()
	const runs = 100
	lat := make([]time.Duration, 0, runs)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		lat = lat[:0]
		for r := 0; r < runs; r++ {
			t0 := time.Now()
			id := tb.submit(b, map[string]any{"agent": "fake", "prompt": "ok", "workspace": ws})
			for got := range started {
				if got == id {
					break
				}
			}
			lat = append(lat, time.Since(t0))
			tb.waitStatus(b, id, "completed")
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	base := bareLatency(b, tb.host.NATSURL())
	b.ReportMetric(float64(base.Microseconds())/1000, "bare-js-p50-ms")
	b.Logf("POST /v1/runs -> run.started over %d runs: p50 %s p99 %s; bare JetStream publish->consume p50 %s",
		runs, lat[len(lat)/2], lat[len(lat)*99/100], base)
}

// bareLatency is the median of publish -> pull consumer delivery on a
// scratch stream of the same server.
func bareLatency(b *testing.B, url string) time.Duration {
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := nc.JetStream()
	require.NoError(b, err)
	_, err = js.AddStream(&nats.StreamConfig{Name: "BENCH_BASE", Subjects: []string{"bench.base"}, Storage: nats.FileStorage})
	require.NoError(b, err)
	defer func() { _ = js.DeleteStream("BENCH_BASE") }()
	sub, err := js.PullSubscribe("bench.base", "base", nats.AckExplicit())
	require.NoError(b, err)
	var lat []time.Duration
	for i := 0; i < 200; i++ {
		done := make(chan time.Duration, 1)
		go func() {
			msgs, err := sub.Fetch(1, nats.MaxWait(5*time.Second))
			if err == nil && len(msgs) == 1 {
				_ = msgs[0].Ack()
				var sent int64
				fmt.Sscan(string(msgs[0].Data), &sent)
				done <- time.Since(time.Unix(0, sent))
				return
			}
			done <- -1
		}()
		time.Sleep(time.Millisecond)
		_, err := js.Publish("bench.base", []byte(fmt.Sprint(time.Now().UnixNano())))
		require.NoError(b, err)
		if d := <-done; d > 0 {
			lat = append(lat, d)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return lat[len(lat)/2]
}
