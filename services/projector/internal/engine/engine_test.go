package engine_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
	"github.com/phantom-run/phantom/services/projector/internal/projections"
	"github.com/phantom-run/phantom/services/projector/internal/projtest"
)

type bundle struct {
	*projtest.Env
	t   *testing.T
	m   *engine.Metrics
	eng *engine.Engine
}

func setup(t *testing.T, o engine.Options) *bundle {
	t.Helper()
	env := projtest.Setup(t, 2*time.Minute)
	m, err := engine.NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	return &bundle{Env: env, t: t, m: m, eng: engine.New(env.DB, env.NATS.JS, testenv.Logger(t), m, o)}
}

// hooked wraps the runs projection with a hook before its Apply.
type hooked struct {
	engine.Projection
	before func(ctx context.Context, tx pgx.Tx, batch []bus.Event) error
	calls  atomic.Int64
}

func (h *hooked) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	h.calls.Add(1)
	if h.before != nil {
		if err := h.before(ctx, tx, batch); err != nil {
			return err
		}
	}
	return h.Projection.Apply(ctx, tx, batch)
}

// running is a worker running in the background.
type running struct {
	w      *engine.Worker
	cancel context.CancelFunc
	done   chan struct{}
}

// start runs a worker of p until the test ends or stop.
func (b *bundle) start(p engine.Projection) *running {
	b.t.Helper()
	r := &running{w: b.eng.Worker(p), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(b.Ctx)
	r.cancel = cancel
	go func() {
		defer close(r.done)
		if err := r.w.Run(ctx); err != nil {
			b.t.Errorf("worker: %v", err)
		}
	}()
	b.t.Cleanup(r.stop)
	return r
}

// wait waits for the worker to end by itself.
func (r *running) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not end")
	}
}

// stop ends the worker and waits for it.
func (r *running) stop() {
	r.cancel()
	<-r.done
}

// replayEquals resets the projection, replays the stream with a plain worker
// and requires the tables to be what they were.
func (b *bundle) replayEquals(want projtest.Dump, last uint64) {
	b.t.Helper()
	engine.SetAfterCommit(b.eng, nil)
	require.NoError(b.t, b.eng.Reset(b.Ctx, projections.Runs{}))
	r := b.start(projections.Runs{})
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	r.stop()
	require.Equal(b.t, want, b.Dump())
}

func (b *bundle) requireNoDuplicates(total int) {
	b.t.Helper()
	require.Equal(b.t, total, b.Count("run_events"))
	var distinct int
	require.NoError(b.t, b.DB.QueryRow(b.Ctx, `SELECT count(DISTINCT id) FROM run_events`).Scan(&distinct))
	require.Equal(b.t, total, distinct)
}

func TestKilledInsideABatchRollsBack(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{Batch: 50})
	work := projtest.Workload(30, 5, 21)
	last := b.PublishAll(work)

	var committed atomic.Uint64
	engine.SetAfterCommit(b.eng, func(seq uint64) bool { committed.Store(seq); return true })
	var cancel context.CancelFunc
	h := &hooked{Projection: projections.Runs{}}
	h.before = func(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
		if h.calls.Load() < 3 {
			return nil
		}
		// Write the batch, then die before the commit.
		if err := h.Projection.Apply(ctx, tx, batch); err != nil {
			return err
		}
		cancel()
		return ctx.Err()
	}
	r := b.start(h)
	cancel = r.cancel
	r.wait(t)
	cp := b.Checkpoint(readmodel.ProjectionRuns)
	require.Equal(t, committed.Load(), cp, "the checkpoint is the last committed batch")
	require.Positive(t, cp)
	require.Less(t, cp, last)
	var above int
	require.NoError(t, b.DB.QueryRow(b.Ctx, `SELECT count(*) FROM run_events WHERE seq > $1`, int64(cp)).Scan(&above))
	require.Zero(t, above, "nothing of the killed batch is left")

	engine.SetAfterCommit(b.eng, nil)
	r = b.start(projections.Runs{})
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	r.stop()
	b.requireNoDuplicates(len(work))
	b.replayEquals(b.Dump(), last)
}

func TestKilledBetweenCommitAndAck(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{Batch: 40})
	work := projtest.Workload(30, 5, 22)
	last := b.PublishAll(work)
	var cancel context.CancelFunc
	var commits atomic.Int64
	engine.SetAfterCommit(b.eng, func(uint64) bool {
		if commits.Add(1) == 2 {
			cancel()
			return false
		}
		return true
	})
	r := b.start(projections.Runs{})
	cancel = r.cancel
	r.wait(t)
	cp := b.Checkpoint(readmodel.ProjectionRuns)
	require.Positive(t, cp)
	require.Less(t, cp, last)
	// The consumer still holds the unacknowledged batch: it must not be applied again.
	c, err := b.NATS.JS.Consumer(b.Ctx, streams.Events, "projector-runs")
	require.NoError(t, err)
	info, err := c.Info(b.Ctx)
	require.NoError(t, err)
	require.Less(t, info.AckFloor.Stream, cp, "the last committed batch was not acknowledged")

	engine.SetAfterCommit(b.eng, nil)
	r = b.start(projections.Runs{})
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	r.stop()
	b.requireNoDuplicates(len(work))
	b.replayEquals(b.Dump(), last)
}

func TestRedeliveredAfterAckWaitIsSkipped(t *testing.T) {
	t.Parallel()
	// The pull asks for more than there is, so it is still open, waiting,
	// when the ack wait expires during the first (slow) batch.
	b := setup(t, engine.Options{Batch: 1000, AckWait: 300 * time.Millisecond})
	work := projtest.Workload(30, 6, 23)
	require.Less(t, len(work), 1000)
	last := b.PublishAll(work)
	h := &hooked{Projection: projections.Runs{}}
	h.before = func(ctx context.Context, _ pgx.Tx, _ []bus.Event) error {
		if h.calls.Load() == 1 {
			// Outlast the ack wait: the server redelivers the batch.
			time.Sleep(time.Second)
		}
		return nil
	}
	r := b.start(h)
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	require.Eventually(t, func() bool {
		return b.m.Skipped(readmodel.ProjectionRuns, engine.SkipRedelivered) > 0
	}, 10*time.Second, 10*time.Millisecond, "the redelivered batch was seen and skipped")
	r.stop()
	b.requireNoDuplicates(len(work))
	b.replayEquals(b.Dump(), last)
}

func TestRefusedEventsAreRecordedAndSkipped(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{Batch: 200})
	work := projtest.Workload(20, 5, 24)
	last := b.PublishAll(work)
	const pgRefused, appRefused = 17, 33
	h := &hooked{Projection: projections.Runs{}}
	h.before = func(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
		for _, ev := range batch {
			switch ev.Seq {
			case pgRefused:
				// A value Postgres refuses (a data exception).
				_, err := tx.Exec(ctx, `SELECT 1/0`)
				return err
			case appRefused:
				return fmt.Errorf("%w: not this one", engine.ErrBadEvent)
			}
		}
		return nil
	}
	r := b.start(h)
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	r.stop()
	require.Equal(t, len(work)-2, b.Count("run_events"))
	errs := b.Rows(`SELECT seq || ' ' || type || ' ' || error FROM projection_errors ORDER BY seq`)
	require.Len(t, errs, 2)
	require.Contains(t, errs[0], "17 ")
	require.Contains(t, errs[0], "division by zero")
	require.Contains(t, errs[1], "33 ")
	require.Contains(t, errs[1], "not this one")
	require.Equal(t, 2.0, b.m.Skipped(readmodel.ProjectionRuns, engine.SkipRefused))
	require.Equal(t, float64(len(work)-2), b.m.Applied(readmodel.ProjectionRuns))
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{Batch: 1000, RetryMin: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	work := projtest.Workload(10, 5, 25)
	last := b.PublishAll(work)
	var w *engine.Worker
	var unhealthy atomic.Bool
	h := &hooked{Projection: projections.Runs{}}
	h.before = func(context.Context, pgx.Tx, []bus.Event) error {
		n := h.calls.Load()
		if n == 3 && w.Healthy() != nil {
			unhealthy.Store(true)
		}
		if n <= 3 {
			return errors.New("connection reset by peer")
		}
		return nil
	}
	r := b.start(h)
	w = r.w
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	require.True(t, unhealthy.Load(), "a failing worker reports it")
	require.Eventually(t, func() bool { return w.Healthy() == nil }, 5*time.Second, 10*time.Millisecond)
	r.stop()
	require.Equal(t, 3.0, b.m.ApplyErrors(readmodel.ProjectionRuns))
	b.requireNoDuplicates(len(work))
}

// TestStolenDeliveriesAreNoticed: another client pulls from the projector's
// consumer, so deliveries go missing; the worker must notice the gap and
// reposition rather than skip the stolen events.
func TestStolenDeliveriesAreNoticed(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{Batch: 10})
	work := projtest.Workload(40, 5, 26)
	r := b.start(projections.Runs{})
	var last uint64
	for i := 0; i < len(work); i += 50 {
		// A rogue pull waits on the consumer when the events come.
		stolen := make(chan struct{})
		go func() {
			defer close(stolen)
			c, err := b.NATS.JS.Consumer(b.Ctx, streams.Events, "projector-runs")
			if err != nil {
				return // being repositioned
			}
			if mb, err := c.Fetch(3, jetstream.FetchMaxWait(time.Second)); err == nil {
				for range mb.Messages() {
				}
			}
		}()
		time.Sleep(50 * time.Millisecond)
		last = b.PublishAll(work[i:min(i+50, len(work))])
		<-stolen
	}
	b.WaitCheckpoint(readmodel.ProjectionRuns, last, 30*time.Second)
	r.stop()
	require.Positive(t, b.m.Positions(readmodel.ProjectionRuns, "gap"))
	b.requireNoDuplicates(len(work))
	b.replayEquals(b.Dump(), last)
}

func TestFirstDeliveryIsVerifiedAgainstTheStream(t *testing.T) {
	t.Parallel()
	b := setup(t, engine.Options{})
	last := b.PublishAll(projtest.Workload(2, 1, 27))
	w := b.eng.Worker(projections.Runs{})
	require.NoError(t, w.VerifyFirst(b.Ctx, 0, 1))
	err := w.VerifyFirst(b.Ctx, 0, last)
	require.ErrorIs(t, err, engine.ErrReposition)
	require.ErrorContains(t, err, "comes first after the checkpoint 0")
	require.NoError(t, w.VerifyFirst(b.Ctx, last-1, last))
}
