package service_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/services/projector/internal/projtest"
	"github.com/phantom-run/phantom/services/projector/service"
)

// benchEvents is PHANTOM_BENCH_EVENTS (default 100,000): how many events the
// benchmarks project.
func benchEvents(b *testing.B) int {
	b.Helper()
	n := 100_000
	if v := os.Getenv("PHANTOM_BENCH_EVENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "PHANTOM_BENCH_EVENTS must be a number")
		require.Positive(b, n, "PHANTOM_BENCH_EVENTS must be positive")
	}
	return n
}

// benchConfig is the default configuration, with PHANTOM_BENCH_BATCH and
// PHANTOM_BENCH_SYNC (true: synchronous commits) when set.
func benchConfig(b *testing.B) service.Config {
	b.Helper()
	cfg := service.DefaultConfig()
	if v := os.Getenv("PHANTOM_BENCH_BATCH"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(b, err, "PHANTOM_BENCH_BATCH must be a number")
		cfg.Batch = n
	}
	cfg.SynchronousCommit = os.Getenv("PHANTOM_BENCH_SYNC") == "true"
	return cfg
}

// benchWorkload is about n events of the realistic mix (20 output chunks
// of ~200 bytes per run).
func benchWorkload(n int) []projtest.Planned {
	w := projtest.Workload(n/20+1, 20, 42)
	if len(w) > n {
		w = w[:n]
	}
	return w
}

// runService starts the projector and returns a stop function.
func runService(b *testing.B, env *projtest.Env) (*service.Service, func()) {
	b.Helper()
	svc, _, stop := runServiceReg(b, env)
	return svc, stop
}

func runServiceReg(b *testing.B, env *projtest.Env) (*service.Service, *prometheus.Registry, func()) {
	b.Helper()
	reg := prometheus.NewRegistry()
	svc, err := service.New(env.Ctx, benchConfig(b), env.DaemonEnv(reg))
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(env.Ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	return svc, reg, func() {
		cancel()
		require.NoError(b, <-done)
	}
}

// applySeconds is the time spent in transactions (apply and commit) so far.
func applySeconds(b *testing.B, reg *prometheus.Registry) float64 {
	b.Helper()
	mfs, err := reg.Gather()
	require.NoError(b, err)
	for _, mf := range mfs {
		if mf.GetName() == "phantom_projector_apply_duration_seconds" {
			sum := 0.0
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
			return sum
		}
	}
	return 0
}

// BenchmarkProjectorVsBare projects the same events with Phantom's projector
// and with the bare pipeline (JetStream fetch(1000) -> COPY + guarded upsert
// -> checkpoint -> commit -> ack), each from an empty table, and reports
// both rates and their ratio. Both commit in the same mode (asynchronous by
// default, synchronous with PHANTOM_BENCH_SYNC=true).
func BenchmarkProjectorVsBare(b *testing.B) {
	env := projtest.Setup(b, 30*time.Minute)
	work := benchWorkload(benchEvents(b))
	last := env.PublishAll(work)
	createBare(b, env)
	fsync, commits := durableRates(b, env)
	var phantom, bare time.Duration
	b.ResetTimer()
	for i := range b.N {
		// Phantom: a fresh projection catching up on the whole stream.
		svc, stop := runService(b, env)
		if i > 0 {
			require.NoError(b, svc.Rebuild(env.Ctx, readmodel.ProjectionRuns))
		}
		start := time.Now()
		env.WaitCheckpoint(readmodel.ProjectionRuns, last, 10*time.Minute)
		phantom += time.Since(start)
		stop()
		require.Equal(b, len(work), env.Count("run_events"))

		start = time.Now()
		runBare(b, env, len(work), i, benchConfig(b).SynchronousCommit)
		bare += time.Since(start)
		require.Equal(b, len(work), env.Count("bare_run_events"))
	}
	b.StopTimer()
	events := float64(len(work) * b.N)
	b.ReportMetric(events/phantom.Seconds(), "phantom_events/s")
	b.ReportMetric(events/bare.Seconds(), "bare_events/s")
	b.ReportMetric(bare.Seconds()/phantom.Seconds(), "ratio")
	b.ReportMetric(fsync, "fdatasync/s")
	b.ReportMetric(commits, "pg_commits/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkRebuild projects the events live, then times a rebuild: reset
// and replay from sequence 1 until the checkpoint is back at the end.
func BenchmarkRebuild(b *testing.B) {
	env := projtest.Setup(b, 60*time.Minute)
	work := benchWorkload(benchEvents(b))
	last := env.PublishAll(work)
	fsync, commits := durableRates(b, env)
	svc, reg, stop := runServiceReg(b, env)
	defer stop()
	env.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Minute)
	live := env.Count("runs")
	var total time.Duration
	inTx := -applySeconds(b, reg)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		require.NoError(b, svc.Rebuild(env.Ctx, readmodel.ProjectionRuns))
		// The reset empties the checkpoint; wait for the replay to bring it back.
		env.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Minute)
		total += time.Since(start)
	}
	b.StopTimer()
	inTx += applySeconds(b, reg)
	b.ReportMetric(inTx/total.Seconds(), "tx_share")
	require.Equal(b, len(work), env.Count("run_events"))
	require.Equal(b, live, env.Count("runs"))
	secs := total.Seconds() / float64(b.N)
	b.ReportMetric(float64(len(work)), "events")
	b.ReportMetric(secs, "s/rebuild")
	b.ReportMetric(float64(len(work))/secs, "events/s")
	b.ReportMetric(secs*1e6/float64(len(work)), "s/1M_events")
	b.ReportMetric(fsync, "fdatasync/s")
	b.ReportMetric(commits, "pg_commits/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkIdleLatency publishes events one at a time to an idle projector
// and measures how long each takes to be applied (publish -> checkpoint).
func BenchmarkIdleLatency(b *testing.B) {
	env := projtest.Setup(b, 10*time.Minute)
	_, stop := runService(b, env)
	defer stop()
	work := projtest.Workload(10, 20, 1)
	n := min(len(work), 200)
	lat := make([]time.Duration, 0, n)
	b.ResetTimer()
	for range b.N {
		lat = lat[:0]
		for _, p := range work[:n] {
			start := time.Now()
			seq := env.Publish(p)
			for env.Checkpoint(readmodel.ProjectionRuns) < seq {
				time.Sleep(100 * time.Microsecond)
			}
			lat = append(lat, time.Since(start))
			// Idle again before the next one.
			time.Sleep(5 * time.Millisecond)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
	b.ReportMetric(0, "ns/op")
}

// durableRates measures what durable writes cost on this machine: fdatasync
// calls per second on a temp file, and single-row committed transactions per
// second in Postgres (each waits for its WAL flush).
func durableRates(b *testing.B, env *projtest.Env) (fsyncPerSec, commitsPerSec float64) {
	b.Helper()
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	require.NoError(b, err)
	defer f.Close()
	buf := make([]byte, 8192)
	n, start := 0, time.Now()
	for time.Since(start) < 500*time.Millisecond {
		_, err := f.WriteAt(buf, 0)
		require.NoError(b, err)
		require.NoError(b, f.Sync())
		n++
	}
	fsyncPerSec = float64(n) / time.Since(start).Seconds()

	_, err = env.DB.Exec(env.Ctx, `CREATE TABLE commit_probe (n int)`)
	require.NoError(b, err)
	n, start = 0, time.Now()
	for time.Since(start) < 500*time.Millisecond {
		_, err := env.DB.Exec(env.Ctx, `INSERT INTO commit_probe VALUES ($1)`, n)
		require.NoError(b, err)
		n++
	}
	commitsPerSec = float64(n) / time.Since(start).Seconds()
	return fsyncPerSec, commitsPerSec
}

func createBare(b *testing.B, env *projtest.Env) {
	b.Helper()
	_, err := env.DB.Exec(env.Ctx, `
CREATE TABLE bare_run_events (LIKE run_events INCLUDING ALL);
CREATE TABLE bare_runs (id text PRIMARY KEY, status text NOT NULL, updated_at timestamptz NOT NULL, last_seq bigint NOT NULL);
CREATE TABLE bare_checkpoints (LIKE projection_checkpoints INCLUDING ALL);`)
	require.NoError(b, err)
}

// runBare is the bare pipeline: what a projector must do at the least.
// Its commits wait for the WAL flush as Phantom's do (synchronous) or not.
func runBare(b *testing.B, env *projtest.Env, total, round int, synchronous bool) {
	b.Helper()
	ctx := env.Ctx
	_, err := env.DB.Exec(ctx, `TRUNCATE bare_run_events, bare_runs, bare_checkpoints`)
	require.NoError(b, err)
	cons, err := env.NATS.JS.CreateConsumer(ctx, streams.Events, jetstream.ConsumerConfig{
		Durable: "bare-" + strconv.Itoa(round), FilterSubject: "phantom.events.run.>",
		AckPolicy: jetstream.AckAllPolicy, MaxAckPending: 4000, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	require.NoError(b, err)
	cols := []string{"seq", "id", "run_id", "type", "source", "attempt", "time", "data"}
	type runRow struct {
		status string
		at     time.Time
		seq    int64
	}
	// A pull returns as soon as it has its messages; it asks for no more than
	// remain, so it never waits for its expiry. (A short expiry, say 50ms,
	// livelocks on a large stream: the server needs longer than that to find
	// the first messages of a wildcard filter, every pull expires empty.)
	for got := 0; got < total; {
		mb, err := cons.Fetch(min(1000, total-got), jetstream.FetchMaxWait(10*time.Second))
		require.NoError(b, err)
		var msgs []jetstream.Msg
		for m := range mb.Messages() {
			msgs = append(msgs, m)
		}
		require.NoError(b, mb.Error())
		if len(msgs) == 0 {
			continue
		}
		rows := make([][]any, len(msgs))
		latest := map[string]runRow{}
		var hi uint64
		for i, m := range msgs {
			md, err := m.Metadata()
			require.NoError(b, err)
			h := m.Headers()
			at, _ := time.Parse(time.RFC3339Nano, h.Get("ce-time"))
			var attempt *int32
			if a, err := strconv.Atoi(h.Get("ce-attempt")); err == nil {
				a32 := int32(a)
				attempt = &a32
			}
			runID := strings.SplitN(strings.TrimPrefix(m.Subject(), "phantom.events.run."), ".", 2)[0]
			seq := int64(md.Sequence.Stream)
			rows[i] = []any{seq, h.Get("ce-id"), runID, h.Get("ce-type"), h.Get("ce-source"), attempt, at, m.Data()}
			latest[runID] = runRow{status: h.Get("ce-type"), at: at, seq: seq}
			hi = md.Sequence.Stream
		}
		ids := make([]string, 0, len(latest))
		statuses := make([]string, 0, len(latest))
		ats := make([]time.Time, 0, len(latest))
		seqs := make([]int64, 0, len(latest))
		for id, r := range latest {
			ids, statuses, ats, seqs = append(ids, id), append(statuses, r.status), append(ats, r.at), append(seqs, r.seq)
		}
		err = pgx.BeginFunc(ctx, env.DB, func(tx pgx.Tx) error {
			if !synchronous {
				if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
					return err
				}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"bare_run_events"}, cols, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO bare_runs (id, status, updated_at, last_seq)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[])
ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq
WHERE bare_runs.last_seq < EXCLUDED.last_seq`, ids, statuses, ats, seqs); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO bare_checkpoints VALUES ('bare', $1, $2)
ON CONFLICT (projection) DO UPDATE SET last_seq = EXCLUDED.last_seq, updated_at = EXCLUDED.updated_at`, int64(hi), time.Now())
			return err
		})
		require.NoError(b, err)
		require.NoError(b, msgs[len(msgs)-1].Ack())
		got += len(msgs)
	}
}
