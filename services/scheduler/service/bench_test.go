package service

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
)

// BenchmarkDispatch measures the scheduler on a real (embedded) NATS with
// no-op runners: goroutines that pull the pool's dispatch messages as real
// runners do and, for each, record the moment it arrived (the moment a real
// runner would spawn the agent) and append run.started and run.completed at
// once. "No-op agents" means exactly that: the agent takes no time and no
// process is spawned, so what is measured is the scheduler and the bus
// (submit -> requested, queued, dispatched -> dispatch message -> runner),
// not fork/exec or an agent's work (the whole system with a real runner
// spawning a real process is cmd/phantom/internal/e2e
// BenchmarkSubmitToSpawned). Mixed priorities (-10..10) over four providers,
// 64 slots, 16 per provider.
//
//   - throughput: PHANTOM_BENCH_RUNS (default 20,000) submits published as
//     fast as JetStream takes them; dispatches per second from the first
//     dispatch to the last.
//   - latency at half load: 2,000 submits at half that rate, open loop; for
//     each, from the submit's PubAck (the command accepted) to the no-op
//     runner receiving its dispatch; p50 and p99.
//   - baseline in the same run: a bare JetStream publish -> pull consumer
//     delivery, p50 and p99.
//   - violations: the whole log is replayed and every dispatch checked
//     against the limits; reported (and required) 0.
func BenchmarkDispatch(b *testing.B) {
	n := 20000
	if v := os.Getenv("PHANTOM_BENCH_RUNS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err)
	}
	bd := setup(b)
	bd.quiet = true
	cfg := testConfig()
	cfg.MaxRunning, cfg.MaxPerProvider, cfg.Capacity = 64, 16, 100000
	bd.startLeader(cfg)
	pool := startNoopRunners(b, bd, 4)

	// Throughput.
	providers := []string{"claude", "codex", "gemini", "aider"}
	rnd := rand.New(rand.NewPCG(1, 2))
	submitAll := func(prefix string, count int, gap time.Duration) []time.Time {
		accepted := make([]time.Time, count)
		var futures []jetstream.PubAckFuture
		for i := range count {
			p := rnd.IntN(21) - 10
			spec := runs.Spec{Agent: providers[i%4], Prompt: "noop", Workspace: "/w", Priority: &p}
			id := fmt.Sprintf("%s%06d", prefix, i)
			if gap > 0 {
				next := time.Now().Add(gap)
				_, err := bd.gateway.Command(bd.ctx, commands.SubmitRun{RunID: id, Spec: spec}, bus.WithID("submit-"+id))
				require.NoError(b, err)
				accepted[i] = time.Now()
				time.Sleep(time.Until(next))
				continue
			}
			env, err := bd.gateway.NewEnvelope(bd.ctx, commands.SubmitRun{}.CommandType(), "", commands.SubmitRun{RunID: id, Spec: spec}, bus.WithID("submit-"+id))
			require.NoError(b, err)
			f, err := bd.nats.JS.PublishMsgAsync(env.Msg(commands.SubmitRun{}.Subject()))
			require.NoError(b, err)
			futures = append(futures, f)
			accepted[i] = time.Now()
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				require.NoError(b, err)
			}
		}
		return accepted
	}
	b.ResetTimer()
	start := time.Now()
	submitAll("t", n, 0)
	pool.waitFor(b, "t", n)
	b.StopTimer()
	first, last := pool.span("t")
	rate := float64(n) / last.Sub(first).Seconds()
	b.Logf("throughput: %d dispatches in %s (%.0f/s), submits published in %s", n, last.Sub(first).Round(time.Millisecond), rate,
		time.Since(start).Round(time.Millisecond))

	// Latency at half load.
	const m = 2000
	gap := time.Duration(float64(time.Second) / (rate / 2))
	accepted := submitAll("l", m, gap)
	pool.waitFor(b, "l", m)
	lat := make([]time.Duration, m)
	for i := range m {
		lat[i] = pool.arrived(fmt.Sprintf("l%06d", i)).Sub(accepted[i])
	}
	slices.Sort(lat)
	p50, p99 := lat[m/2], lat[m*99/100]
	base50, base99 := bareDelivery(b, bd.nats.URL)
	violations := bd.limitViolations(cfg.MaxRunning, cfg.MaxPerProvider)

	b.ReportMetric(rate, "dispatches/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(base50.Microseconds())/1000, "bare-p50-ms")
	b.ReportMetric(float64(base99.Microseconds())/1000, "bare-p99-ms")
	b.ReportMetric(float64(violations), "violations")
	b.Logf("accepted -> dispatch at the runner at half load (%.0f/s): p50 %s p99 %s; bare JetStream publish -> pull delivery p50 %s p99 %s; %d limit violations over %d dispatches",
		rate/2, p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), base50.Round(10*time.Microsecond), base99.Round(10*time.Microsecond), violations, n+m)
	require.Zero(b, violations)
}

// noopRunners are runners whose agents do nothing: each dispatch is
// recorded as it arrives (when a real runner would spawn the agent), then
// run.started and run.completed are appended at once and the message acked.
type noopRunners struct {
	mu      sync.Mutex
	arrival map[string]time.Time
}

func startNoopRunners(b *testing.B, bd *testBundle, n int) *noopRunners {
	b.Helper()
	pool := &noopRunners{arrival: map[string]time.Time{}}
	nc, js := bd.nats.Connect(b)
	_ = nc
	cons, err := bus.EnsureConsumer(bd.ctx, js, streams.Dispatch, jetstream.ConsumerConfig{
		Durable: "runners-" + runs.DefaultPool, FilterSubject: subjects.Dispatch(runs.DefaultPool), MaxAckPending: 4096,
	})
	require.NoError(b, err)
	pub := bus.NewPublisher(js, "phantom/runner/noop")
	ctx, cancel := context.WithCancel(bd.ctx)
	var wg sync.WaitGroup
	b.Cleanup(func() { cancel(); wg.Wait() })
	for w := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runner := fmt.Sprintf("noop-%d", w)
			for ctx.Err() == nil {
				batch, err := cons.Fetch(64, jetstream.FetchMaxWait(200*time.Millisecond))
				if err != nil {
					continue
				}
				var futures []jetstream.PubAckFuture
				for msg := range batch.Messages() {
					now := time.Now()
					var d commands.Dispatch
					if json.Unmarshal(msg.Data(), &d) != nil {
						_ = msg.Term()
						continue
					}
					pool.mu.Lock()
					pool.arrival[d.RunID] = now
					pool.mu.Unlock()
					for _, ev := range []events.Payload{
						&events.RunStarted{RunID: d.RunID, Attempt: d.Attempt, RunnerID: runner, Host: "bench"},
						&events.RunCompleted{RunID: d.RunID, Attempt: d.Attempt},
					} {
						m, _, err := pub.EventMsg(ctx, ev, bus.WithAttempt(d.Attempt))
						if err != nil {
							continue
						}
						if f, err := js.PublishMsgAsync(m); err == nil {
							futures = append(futures, f)
						}
					}
					_ = msg.Ack()
				}
				for _, f := range futures {
					select {
					case <-f.Ok():
					case <-f.Err():
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	return pool
}

func (p *noopRunners) count(prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for id := range p.arrival {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

func (p *noopRunners) waitFor(b *testing.B, prefix string, n int) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for p.count(prefix) < n {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d runs dispatched", p.count(prefix), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *noopRunners) span(prefix string) (first, last time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, at := range p.arrival {
		if len(id) > len(prefix) && id[:len(prefix)] == prefix {
			if first.IsZero() || at.Before(first) {
				first = at
			}
			if at.After(last) {
				last = at
			}
		}
	}
	return first, last
}

func (p *noopRunners) arrived(id string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.arrival[id]
}

// bareDelivery is a bare JetStream publish -> pull consumer delivery on a
// scratch stream of the same server: p50 and p99 over 500 messages.
func bareDelivery(b *testing.B, url string) (time.Duration, time.Duration) {
	b.Helper()
	nc, err := nats.Connect(url)
	require.NoError(b, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(b, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH_BARE", Subjects: []string{"bench.bare"}, Storage: jetstream.FileStorage})
	require.NoError(b, err)
	defer func() { _ = js.DeleteStream(context.Background(), "BENCH_BARE") }()
	cons, err := st.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "bare", AckPolicy: jetstream.AckExplicitPolicy})
	require.NoError(b, err)
	var lat []time.Duration
	for range 500 {
		done := make(chan time.Duration, 1)
		go func() {
			m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				done <- -1
				return
			}
			_ = m.Ack()
			sent, _ := strconv.ParseInt(string(m.Data()), 10, 64)
			done <- time.Since(time.Unix(0, sent))
		}()
		time.Sleep(time.Millisecond)
		_, err := js.Publish(ctx, "bench.bare", []byte(strconv.FormatInt(time.Now().UnixNano(), 10)))
		require.NoError(b, err)
		if d := <-done; d > 0 {
			lat = append(lat, d)
		}
	}
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// limitViolations replays the log and counts the dispatches that took a
// slot beyond the limits.
func (b *testBundle) limitViolations(maxRunning, maxPerProvider int) int {
	provider := map[string]string{}
	active := map[string]bool{}
	perProvider := map[string]int{}
	violations := 0
	cons, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subjects.AllEvents}})
	require.NoError(b.t, err)
	info, err := cons.Info(b.ctx)
	require.NoError(b.t, err)
	left := info.NumPending
	for left > 0 {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		require.NoError(b.t, err)
		for msg := range batch.Messages() {
			left--
			ev, err := bus.DecodeEvent(msg)
			require.NoError(b.t, err)
			id, _ := events.RunIDOf(ev.Payload)
			switch p := ev.Payload.(type) {
			case *events.RunRequested:
				provider[p.RunID] = p.Spec.ProviderOrAgent()
			case *events.RunDispatched:
				active[id] = true
				perProvider[provider[id]]++
				if len(active) > maxRunning || perProvider[provider[id]] > maxPerProvider {
					violations++
				}
			case *events.RunCompleted, *events.RunCanceled, *events.RunFailed:
				if active[id] {
					delete(active, id)
					perProvider[provider[id]]--
				}
			}
		}
	}
	return violations
}
