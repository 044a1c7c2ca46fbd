// Package projtest is what the projector's tests and benchmarks share: a real
// NATS and Postgres per test, a realistic workload of run events, fast
// publishing, and dumps of the read models to compare.
package projtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/postgres"
	"github.com/phantom-run/phantom/pkg/testenv"
)

// Source is the ce-source of the events tests publish.
const Source = "phantom/test/1"

// Env is one test's infrastructure.
type Env struct {
	T    testing.TB
	Ctx  context.Context
	NATS *testenv.NATS
	DB   *pgxpool.Pool
	URL  string
	Pub  *bus.Publisher
}

// Setup starts an embedded NATS and a fresh, migrated Postgres database.
func Setup(t testing.TB, timeout time.Duration) *Env {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	db, url := testenv.PostgresPool(t)
	require.NoError(t, postgres.Migrate(ctx, db, readmodel.Migrations()))
	return &Env{T: t, Ctx: ctx, NATS: n, DB: db, URL: url, Pub: bus.NewPublisher(n.JS, Source)}
}

// DaemonEnv is what a host would give the projector.
func (e *Env) DaemonEnv(reg prometheus.Registerer) daemon.Env {
	return daemon.Env{Name: "projector", Instance: "test", Logger: testenv.Logger(e.T), Conn: e.NATS.Conn, JS: e.NATS.JS,
		DB: e.DB, Metrics: reg, Checks: opshttp.NewChecks(), Streams: streams.DefaultOptions()}
}

// Planned is one event to publish.
type Planned struct {
	Payload events.Payload
	Attempt int
	Time    time.Time
}

// Publish appends one event and returns its stream sequence.
func (e *Env) Publish(p Planned) uint64 {
	e.T.Helper()
	ack, err := e.Pub.Event(e.Ctx, p.Payload, bus.WithAttempt(p.Attempt), bus.WithTime(p.Time))
	require.NoError(e.T, err)
	return ack.Sequence
}

// PublishAll appends events with asynchronous publishes (a bounded window)
// and returns the last sequence.
func (e *Env) PublishAll(ps []Planned) uint64 {
	e.T.Helper()
	var last uint64
	const window = 4000
	futures := make([]jetstream.PubAckFuture, 0, window)
	flush := func() {
		for _, f := range futures {
			select {
			case ack := <-f.Ok():
				last = max(last, ack.Sequence)
			case err := <-f.Err():
				require.NoError(e.T, err)
			case <-e.Ctx.Done():
				require.NoError(e.T, e.Ctx.Err())
			}
		}
		futures = futures[:0]
	}
	for _, p := range ps {
		msg, _, err := e.Pub.EventMsg(e.Ctx, p.Payload, bus.WithAttempt(p.Attempt), bus.WithTime(p.Time))
		require.NoError(e.T, err)
		f, err := e.NATS.JS.PublishMsgAsync(msg)
		require.NoError(e.T, err)
		futures = append(futures, f)
		if len(futures) == window {
			flush()
		}
	}
	flush()
	return last
}

// Checkpoint reads a projection's checkpoint (0: none).
func (e *Env) Checkpoint(name string) uint64 {
	e.T.Helper()
	var seq int64
	err := e.DB.QueryRow(e.Ctx, `SELECT last_seq FROM projection_checkpoints WHERE projection = $1`, name).Scan(&seq)
	if err == pgx.ErrNoRows {
		return 0
	}
	require.NoError(e.T, err)
	return uint64(seq)
}

// WaitCheckpoint waits until the projection's checkpoint reaches seq.
func (e *Env) WaitCheckpoint(name string, seq uint64, within time.Duration) {
	e.T.Helper()
	require.Eventually(e.T, func() bool { return e.Checkpoint(name) >= seq }, within, 10*time.Millisecond,
		"checkpoint of %s did not reach %d (at %d)", name, seq, e.Checkpoint(name))
}

// Dump is the content of the runs projection's tables, one JSON document
// per row in key order, and its checkpoint.
type Dump struct {
	Runs       []string
	Events     []string
	Errors     []string
	Checkpoint uint64
}

// Dump reads the runs projection's tables.
func (e *Env) Dump() Dump {
	e.T.Helper()
	return Dump{
		Runs:       e.Rows(`SELECT to_jsonb(r)::text FROM runs r ORDER BY id`),
		Events:     e.Rows(`SELECT to_jsonb(e)::text FROM run_events e ORDER BY seq`),
		Errors:     e.Rows(`SELECT to_jsonb(x)::text FROM projection_errors x ORDER BY projection, seq`),
		Checkpoint: e.Checkpoint(readmodel.ProjectionRuns),
	}
}

// Rows returns the first column of every row of a query, as text.
func (e *Env) Rows(sql string, args ...any) []string {
	e.T.Helper()
	rows, err := e.DB.Query(e.Ctx, sql, args...)
	require.NoError(e.T, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.T, err)
	return out
}

// Count returns SELECT count(*) of a table.
func (e *Env) Count(table string) int {
	e.T.Helper()
	var n int
	require.NoError(e.T, e.DB.QueryRow(e.Ctx, `SELECT count(*) FROM `+pgx.Identifier{table}.Sanitize()).Scan(&n))
	return n
}

// Base is the time of the first event of a workload.
var Base = time.Date(2026, 3, 1, 9, 0, 0, 123456789, time.UTC)

func ptr[T any](v T) *T { return &v }

// Workload returns a realistic mix of run events for n runs, interleaved as
// concurrent runs would be, with about chunks output chunks of ~200 bytes
// per run. The mix has completed, failed, canceled, rejected and retried
// runs, late events of an abandoned attempt, a runs started before their
// run.requested is seen, and archived runs. It is deterministic in seed.
func Workload(n, chunks int, seed uint64) []Planned {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	clock := Base
	tick := func() time.Time { clock = clock.Add(time.Duration(1+rng.IntN(5000)) * time.Microsecond); return clock }
	// Each run is a script of events; scripts are interleaved by picking a
	// random live run for the next event.
	scripts := make([][]Planned, n)
	line := strings.Repeat("the agent prints a line of output, ", 6)
	for i := range scripts {
		id := fmt.Sprintf("01RUN%06dZZZZZZZZZZZZZZZZ", i)
		prio := rng.IntN(21) - 10
		spec := runs.Spec{Agent: []string{"claude", "codex", "gemini", "fake"}[i%4], Prompt: fmt.Sprintf("task %d: fix the bug", i),
			Workspace: "/work/repo" + fmt.Sprint(i%7), Priority: &prio, Labels: map[string]string{"n": fmt.Sprint(i)}}
		var s []Planned
		add := func(att int, p events.Payload) { s = append(s, Planned{Payload: p, Attempt: att}) }
		attempt := func(a int) {
			add(a, &events.RunQueued{RunID: id, Attempt: a, Priority: prio, Provider: spec.ProviderOrAgent(), Pool: "default", Position: 1 + rng.IntN(9)})
			add(a, &events.RunDispatched{RunID: id, Attempt: a, Pool: "default", Provider: spec.ProviderOrAgent()})
			add(a, &events.RunWorktreePrepared{RunID: id, Attempt: a, Host: "h1", Repo: spec.Workspace, Path: "/wt/" + id, Branch: "phantom/" + id})
			add(a, &events.RunStarted{RunID: id, Attempt: a, RunnerID: fmt.Sprintf("runner-%d", a), Host: "h1", PID: 1000 + i, Argv: []string{spec.Agent, "-p"}, Cwd: "/wt/" + id})
			for c := 1; c <= chunks; c++ {
				if c%5 == 0 {
					add(a, &events.RunChunkStderr{RunChunk: events.RunChunk{RunID: id, Attempt: a, Seq: int64(c), Offset: int64(c * 200), Data: line, Lines: 1}})
				} else {
					add(a, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: a, Seq: int64(c), Offset: int64(c * 200), Data: line, Lines: 1}})
				}
			}
		}
		requested := &events.RunRequested{RunID: id, Spec: spec, RequestedBy: "alice"}
		switch kind := i % 10; kind {
		case 0, 1, 2, 3: // completed
			add(0, requested)
			attempt(1)
			add(1, &events.RunCLIExit{RunID: id, Attempt: 1, ExitCode: 0, DurationMs: 1200})
			add(1, &events.RunRunnerMetrics{RunID: id, Attempt: 1, DurationMs: 1200, StdoutBytes: 4000, Chunks: int64(chunks)})
			add(1, &events.RunCompleted{RunID: id, Attempt: 1, DurationMs: 1200, Result: "done " + id})
		case 4: // failed
			add(0, requested)
			attempt(1)
			add(1, &events.RunCLIExit{RunID: id, Attempt: 1, ExitCode: 2})
			add(1, &events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonAgentError, Message: "exit status 2", ExitCode: ptr(2)})
		case 5: // canceled while queued
			add(0, requested)
			add(1, &events.RunQueued{RunID: id, Attempt: 1, Priority: prio, Provider: spec.ProviderOrAgent(), Pool: "default"})
			add(1, &events.RunCanceled{RunID: id, Attempt: 1, Reason: runs.ReasonCanceled, By: "bob"})
		case 6: // rejected
			add(0, requested)
			add(0, &events.RunRejected{RunID: id, Reason: runs.ReasonQueueFull, Message: "512 runs are queued"})
		case 7: // retried, with late events of attempt 1 during attempt 2
			add(0, requested)
			attempt(1)
			add(1, &events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonRunnerLost, Message: "runner-1 lost", Retryable: true})
			add(1, &events.RunRetryScheduled{RunID: id, Attempt: 1, NextAttempt: 2, BackoffMs: 100, Reason: runs.ReasonRunnerLost})
			attempt(2)
			add(1, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: int64(chunks + 1), Data: "late"}})
			add(1, &events.RunCompleted{RunID: id, Attempt: 1, Result: "stale"})
			add(2, &events.RunCompleted{RunID: id, Attempt: 2, Result: "done on the second attempt"})
		case 8: // seen before its run.requested, then archived
			attempt(1)
			add(0, requested)
			add(1, &events.RunCompleted{RunID: id, Attempt: 1})
			add(0, &events.RunArchived{RunID: id})
		case 9: // paused and resumed, still running at the end
			add(0, requested)
			attempt(1)
			add(1, &events.RunPaused{RunID: id, Attempt: 1, By: "carol"})
			add(1, &events.RunResumed{RunID: id, Attempt: 1, By: "carol"})
		}
		scripts[i] = s
	}
	var out []Planned
	live := make([]int, n)
	for i := range live {
		live[i] = i
	}
	pos := make([]int, n)
	// At most 32 runs progress at once, like a busy fleet.
	active := live[:min(32, len(live))]
	next := min(32, len(live))
	for len(active) > 0 {
		k := rng.IntN(len(active))
		r := active[k]
		p := scripts[r][pos[r]]
		p.Time = tick()
		out = append(out, p)
		pos[r]++
		if pos[r] == len(scripts[r]) {
			if next < n {
				active[k] = next
				next++
			} else {
				active = append(active[:k], active[k+1:]...)
			}
		}
	}
	return out
}
