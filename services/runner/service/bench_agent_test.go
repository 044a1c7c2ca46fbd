package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/runner/service"
)

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// BenchmarkAgentEventsVsBareAsync runs the fake agent printing 20,000
// stream-json events at full speed: the runner turns them into chunk and
// semantic events (parsed, priced, redacted). It reports the events
// appended per second against a bare nats.go async publish of the very same
// messages in the same run (target: >= 0.70).
//
// The baseline replays each run's own messages (their headers and bodies,
// under a new Nats-Msg-Id, with the runner's window of 128 unacknowledged
// publishes) on a stream with PHANTOM_EVENTS' configuration, right after the
// run: the server does the same work per message in both, so the ratio is
// the runner's cost of reading, parsing, redacting and encoding.
//
// Both rates are taken over their append windows, summed over all
// iterations: the run's from its first to its last output event as the
// server stored them (the agent process starting and being reaped are not
// appending), the baseline's from its first publish to its last
// acknowledgement. One baseline per run, next to it in time, keeps a noisy
// machine from weighing on one side only.
func BenchmarkAgentEventsVsBareAsync(b *testing.B) {
	for _, tc := range []struct{ name, prompt string }{
		// 20,000 stream-json events: chunks and as many semantic events.
		{"stream-json", "go lines=20000"},
		// 256 MiB of raw text: chunk events of 32 KiB, nothing to parse.
		{"raw", "go bytes=268435456"},
	} {
		b.Run(tc.name, func(b *testing.B) { benchAgentEvents(b, tc.prompt) })
	}
}

func benchAgentEvents(b *testing.B, prompt string) {
	bd := setup(b)
	bd.startRunner("r-bench-ev", service.Config{})
	info, err := bd.nats.JS.Stream(bd.ctx, streams.Events)
	require.NoError(b, err)
	cfg := info.CachedInfo().Config
	cfg.Name, cfg.Subjects = "BENCH_BARE", []string{"bench.bare.>"}
	_, err = bd.nats.JS.CreateStream(bd.ctx, cfg)
	require.NoError(b, err)
	js, err := jetstream.New(bd.nats.Conn, jetstream.WithPublishAsyncMaxPending(128))
	require.NoError(b, err)

	var run, bare struct {
		events int
		window time.Duration
		cpu    time.Duration
	}
	var bodies int
	for i := range b.N {
		id := fmt.Sprintf("bench-ev-%d", i)
		before := cpuTime(b)
		bd.dispatch(id, runs.Spec{Prompt: prompt, Workspace: b.TempDir(), Isolation: "none"})
		bd.waitFor(id, "run.completed", 5*time.Minute)
		run.cpu += cpuTime(b) - before
		msgs := bd.runMessages(id)
		n, window := outputWindow(msgs)
		run.events += n
		run.window += window

		t0, cpu0 := time.Now(), cpuTime(b)
		for j, m := range msgs {
			m.msg.Header.Set(nats.MsgIdHdr, fmt.Sprintf("bare-%d-%d", i, j))
			_, err := js.PublishMsgAsync(m.msg)
			require.NoError(b, err)
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(2 * time.Minute):
			b.Fatal("bare publishes not acknowledged")
		}
		bare.window += time.Since(t0)
		bare.cpu += cpuTime(b) - cpu0
		bare.events += len(msgs)
		for _, m := range msgs {
			bodies += len(m.msg.Data)
		}
	}
	b.StopTimer()
	runRate := float64(run.events) / run.window.Seconds()
	bareRate := float64(bare.events) / bare.window.Seconds()
	b.ReportMetric(runRate, "events/s")
	b.ReportMetric(bareRate, "bare-events/s")
	b.ReportMetric(runRate/bareRate, "ratio")
	// The baseline replays every event of every run.
	total := bare.events
	b.ReportMetric(float64(total)/float64(b.N), "events/run")
	// CPU per event, of the whole machine's share that this work takes: the
	// runner, the embedded NATS server and the agent (a child) against the
	// publisher and the server. On a machine of 2 cores the run is CPU-bound,
	// so the ratio of rates follows the ratio of these.
	perEvent := float64(run.cpu.Microseconds()) / float64(total)
	barePerEvent := float64(bare.cpu.Microseconds()) / float64(bare.events)
	b.ReportMetric(perEvent, "cpu-us/event")
	b.ReportMetric(barePerEvent, "bare-cpu-us/event")
	b.Logf("agent %q: %d events a run (%d B of bodies), %d output events at %.0f/s, %.1f µs of CPU each; bare async publish of the same messages: %.0f/s, %.1f µs of CPU each; ratio %.2f",
		prompt, total/b.N, bodies/b.N, run.events/b.N, runRate, perEvent, bareRate, barePerEvent, runRate/bareRate)
}

// outputWindow counts a run's output events (its chunks and parsed events)
// and the time between the first and the last as the server stored them.
func outputWindow(msgs []storedMsg) (int, time.Duration) {
	var n int
	var first, last time.Time
	for _, m := range msgs {
		if !strings.HasPrefix(m.typ, "run.chunk.") && m.typ != "run.semantic" {
			continue
		}
		if n == 0 {
			first = m.stored
		}
		last = m.stored
		n++
	}
	return n, last.Sub(first)
}

// cpuTime is the CPU time used so far by this process and its waited-for
// children (the agents).
func cpuTime(b *testing.B) time.Duration {
	var self, children syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &self))
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children))
	var total time.Duration
	for _, tv := range []syscall.Timeval{self.Utime, self.Stime, children.Utime, children.Stime} {
		total += time.Duration(tv.Nano())
	}
	return total
}

// storedMsg is one of a run's events as the stream holds it.
type storedMsg struct {
	msg    *nats.Msg
	typ    string
	stored time.Time
}

// runMessages reads the run's events back, as messages to publish again on
// bench.bare.<subject> (headers and bodies as stored), with their type and
// the time the server stored them.
func (b *bundle) runMessages(runID string) []storedMsg {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, runID)}})
	require.NoError(b.t, err)
	info, err := c.Info(b.ctx)
	require.NoError(b.t, err)
	out := make([]storedMsg, 0, info.NumPending)
	for len(out) < int(info.NumPending) {
		batch, err := c.Fetch(1000, jetstream.FetchMaxWait(10*time.Second))
		require.NoError(b.t, err)
		for m := range batch.Messages() {
			h := nats.Header{}
			for k, v := range m.Headers() {
				h[k] = append([]string(nil), v...)
			}
			meta, err := m.Metadata()
			require.NoError(b.t, err)
			out = append(out, storedMsg{
				msg: &nats.Msg{Subject: "bench.bare." + m.Subject(), Header: h, Data: append([]byte(nil), m.Data()...)},
				typ: h.Get(envelope.HeaderType), stored: meta.Timestamp})
		}
		require.NoError(b.t, batch.Error())
	}
	return out
}

// BenchmarkLineToEventLatency measures the time from a line printed by the
// agent (it prints its clock, 400 lines 5 ms apart) to the chunk event
// carrying it reaching a subscriber, with the default chunk interval
// (50 ms: lines that follow a chunk within it wait for the next) and with
// 5 ms.
func BenchmarkLineToEventLatency(b *testing.B) {
	for _, interval := range []time.Duration{50 * time.Millisecond, 5 * time.Millisecond} {
		b.Run("interval="+interval.String(), func(b *testing.B) {
			bd := setup(b)
			dir := b.TempDir()
			agentsFile := filepath.Join(dir, "agents.toml")
			script := `i=0; while [ $i -lt 400 ]; do date +%s%N; sleep 0.005; i=$((i+1)); done`
			require.NoError(b, os.WriteFile(agentsFile, []byte(fmt.Sprintf("[agents.ticker]\ncommand = \"/bin/sh\"\nargs = [\"-c\", %q, \"{{.Prompt}}\"]\n", script)), 0o600))
			bd.startRunner("r-lat", service.Config{AgentsFile: agentsFile, ChunkInterval: interval})
			var lat []time.Duration
			var mu sync.Mutex
			for i := range b.N {
				id := fmt.Sprintf("lat-%d", i)
				sub, err := bd.nats.Conn.Subscribe(subjects.Event(events.AggregateRun, id, "run.chunk.stdout"), func(m *nats.Msg) {
					now := time.Now()
					var c events.RunChunkStdout
					if jsonUnmarshal(m.Data, &c) != nil {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for _, l := range strings.Split(strings.TrimSpace(c.Data), "\n") {
						if ns, err := strconv.ParseInt(l, 10, 64); err == nil {
							lat = append(lat, now.Sub(time.Unix(0, ns)))
						}
					}
				})
				require.NoError(b, err)
				bd.dispatch(id, runs.Spec{Agent: "ticker", Prompt: "tick", Workspace: dir, Isolation: "none"})
				bd.waitFor(id, "run.completed", 2*time.Minute)
				_ = sub.Unsubscribe()
			}
			b.StopTimer()
			mu.Lock()
			defer mu.Unlock()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			require.NotEmpty(b, lat)
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.Logf("line -> chunk event at a subscriber, chunk interval %s, %d lines: p50 %s, p99 %s", interval, len(lat), p50, p99)
		})
	}
}

// benchRunnerEnv makes this test binary a standalone runner (for the RSS
// benchmark, which must measure the runner alone): it connects to the NATS
// at this URL and runs until SIGTERM.
const benchRunnerEnv = "PHANTOM_BENCH_RUNNER_NATS"

// benchRunnerMain runs the runner when this binary was started as one.
func benchRunnerMain() {
	url := os.Getenv(benchRunnerEnv)
	if url == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env := daemon.Env{Name: "runner", Instance: "r-rss", Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Conn: nc, JS: js, Metrics: prometheus.NewRegistry()}
	svc, err := service.New(ctx, service.Config{Host: host, KillGrace: 2 * time.Second, Heartbeat: 500 * time.Millisecond}, env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nc.Close()
	os.Exit(0)
}

// BenchmarkStream1GBPeakRSS streams 1 GiB of agent output (PHANTOM_BENCH_BYTES
// changes it) through a runner running as a process of its own, and reports
// that process's peak resident set (VmHWM; target < 100 MB) and the
// throughput. The agent and NATS are other processes.
func BenchmarkStream1GBPeakRSS(b *testing.B) {
	size := int64(1 << 30)
	if v := os.Getenv("PHANTOM_BENCH_BYTES"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		require.NoError(b, err)
		size = n
	}
	bd := setup(b)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchRunnerEnv+"="+bd.nats.URL)
	cmd.Stderr = os.Stderr
	require.NoError(b, cmd.Start())
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	var peak int64
	var took time.Duration
	for i := range b.N {
		id := fmt.Sprintf("rss-%d", i)
		t0 := time.Now()
		bd.dispatch(id, runs.Spec{Prompt: fmt.Sprintf("bytes=%d", size), Workspace: b.TempDir(), Isolation: "none"})
		bd.waitFor(id, "run.completed", 15*time.Minute)
		took = time.Since(t0)
		peak = vmHWM(b, cmd.Process.Pid)
	}
	b.StopTimer()
	b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MB")
	b.ReportMetric(float64(size)/took.Seconds()/(1<<20), "MB/s")
	b.Logf("%d MiB of agent output through a runner process: peak RSS %.1f MB, %.0f MB/s", size>>20, float64(peak)/(1<<20), float64(size)/took.Seconds()/(1<<20))
}

// vmHWM reads a process's peak resident set, in bytes.
func vmHWM(b *testing.B, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			require.NoError(b, err)
			return kb << 10
		}
	}
	b.Fatal("no VmHWM")
	return 0
}
