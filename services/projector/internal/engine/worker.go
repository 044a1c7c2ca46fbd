package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
)

// Worker runs one projection. Run's goroutine owns its fields, except that
// while a consumer is in use its producer goroutine (see consume) owns cons,
// pull, nextDelivery and verify; others only read the atomics.
type Worker struct {
	e   *Engine
	p   Projection
	log *slog.Logger

	cons jetstream.Consumer
	pull *pull
	// applied is the last sequence committed (or read at positioning): the
	// value the checkpoint must still have when the next batch commits.
	applied uint64
	// nextDelivery is the consumer sequence the next message must carry.
	nextDelivery uint64
	// verify asks for the first message after positioning to be checked
	// against the stream (nothing between the checkpoint and it).
	verify bool

	checkpoint atomic.Uint64
	failing    atomic.Bool
	running    atomic.Bool
}

// Worker returns a worker for p.
func (e *Engine) Worker(p Projection) *Worker {
	return &Worker{e: e, p: p, log: e.log.With("projection", p.Name())}
}

// Name is the projection's name.
func (w *Worker) Name() string { return w.p.Name() }

// Checkpoint is the last sequence the worker committed.
func (w *Worker) Checkpoint() uint64 { return w.checkpoint.Load() }

// Healthy reports whether the worker is consuming (positioned, and its last
// attempt to apply a batch did not fail).
func (w *Worker) Healthy() error {
	if !w.running.Load() {
		return fmt.Errorf("projection %s is not positioned", w.p.Name())
	}
	if w.failing.Load() {
		return fmt.Errorf("projection %s cannot apply its events (retrying)", w.p.Name())
	}
	return nil
}

// errReposition ends a consumer's use: the worker positions a new one at
// checkpoint+1. The wrapped reason says why.
var errReposition = errors.New("repositioning the consumer")

type repositionError struct {
	reason string // metric label
	err    error
}

func (r *repositionError) Error() string   { return r.reason + ": " + r.err.Error() }
func (r *repositionError) Unwrap() []error { return []error{errReposition, r.err} }

func reposition(reason string, err error) error { return &repositionError{reason: reason, err: err} }

// Run consumes until ctx ends, then returns nil. Failures (NATS or Postgres
// away, a gap, a moved checkpoint) are logged and retried with backoff; they
// never end Run.
func (w *Worker) Run(ctx context.Context) error {
	defer w.running.Store(false)
	bo := backoff{min: w.e.o.RetryMin, max: w.e.o.RetryMax}
	reason := "start"
	for {
		if err := w.position(ctx, reason); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.failing.Store(true)
			w.log.Warn("could not position the consumer; retrying", "error", err)
			if !sleep(ctx, bo.next()) {
				return nil
			}
			continue
		}
		before := w.applied
		err := w.consume(ctx)
		w.running.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		reason = "fetch_error"
		var re *repositionError
		if errors.As(err, &re) {
			reason = re.reason
		}
		w.log.Warn("repositioning the consumer at the checkpoint", "reason", reason, "error", err)
		if w.applied != before {
			bo = backoff{min: w.e.o.RetryMin, max: w.e.o.RetryMax}
		}
		// A gap or a moved checkpoint is repaired at once; whatever keeps
		// recurring is slowed down.
		if d := bo.next(); reason == "fetch_error" || d > bo.min {
			if !sleep(ctx, d) {
				return nil
			}
		}
	}
}

// position creates the consumer at the checkpoint in Postgres plus one.
func (w *Worker) position(ctx context.Context, reason string) error {
	w.endPull()
	cp, err := w.e.Checkpoint(ctx, w.p.Name())
	if err != nil {
		return err
	}
	cons, err := w.e.position(ctx, w.p, cp+1)
	if err != nil {
		return err
	}
	w.cons, w.applied, w.nextDelivery, w.verify = cons, cp, 1, true
	w.checkpoint.Store(cp)
	w.e.m.checkpoint.WithLabelValues(w.p.Name()).Set(float64(cp))
	w.e.m.resets.WithLabelValues(w.p.Name(), reason).Inc()
	w.failing.Store(false)
	w.running.Store(true)
	w.log.Debug("consumer positioned", "start", cp+1, "reason", reason)
	return nil
}

func (w *Worker) consume(ctx context.Context) error {
	// Two stages: a producer pulls, checks and decodes the next batch while
	// this goroutine applies the current one, so NATS, decoding and Postgres
	// work at the same time.
	pctx, cancel := context.WithCancel(ctx)
	batches := make(chan *batch, 1)
	done := make(chan struct{})
	from := w.applied
	go func() {
		defer close(done)
		defer close(batches)
		w.produce(pctx, from, batches)
	}()
	defer func() {
		cancel()
		for range batches {
		}
		<-done
	}()
	for b := range batches {
		if err := w.apply(ctx, b); err != nil {
			return err
		}
		if b.err != nil {
			return b.err
		}
	}
	return ctx.Err()
}

// produce sends the batches of the current consumer, in order, until ctx
// ends or a batch carries an error (its last). high is the highest sequence
// seen so far (the checkpoint at first): anything at or below it is a
// redelivery.
func (w *Worker) produce(ctx context.Context, high uint64, out chan<- *batch) {
	defer w.endPull()
	for {
		msgs, ferr := w.collect(ctx)
		if ctx.Err() != nil {
			return
		}
		b := &batch{lastSeq: high}
		if len(msgs) > 0 {
			b = w.prepare(ctx, msgs, high)
			high = b.lastSeq
		}
		if ferr != nil && b.err == nil {
			b.err = reposition("fetch_error", ferr)
		}
		if b.taken == 0 && b.err == nil {
			continue
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		if b.err != nil {
			return
		}
	}
}

// batch is what one transaction applies.
type batch struct {
	events []bus.Event
	bad    []badEvent
	// taken counts the messages the batch covers, skipped ones included.
	taken int
	// last is the message to acknowledge (AckAll) after the commit.
	last jetstream.Msg
	// lastSeq and lastTime are the sequence and time of the highest message:
	// the new checkpoint.
	lastSeq  uint64
	lastTime time.Time
	pending  uint64
	// err, when set, ends the consumer after this batch is applied.
	err error
}

// badEvent is a message skipped because it cannot be applied.
type badEvent struct {
	seq                   uint64
	id, typ, subject, why string
	time                  time.Time
}

// prepare checks and decodes msgs; high is the highest sequence seen before
// them. It stops at the first message that is not the consumer's next
// delivery and returns the batch so far with a reposition error.
func (w *Worker) prepare(ctx context.Context, msgs []jetstream.Msg, high uint64) (b *batch) {
	b = &batch{events: make([]bus.Event, 0, len(msgs)), lastSeq: high}
	from := high
	name := w.p.Name()
	for _, m := range msgs {
		md, err := m.Metadata()
		if err != nil {
			b.err = reposition("gap", fmt.Errorf("a message without JetStream metadata: %w", err))
			return b
		}
		if md.Sequence.Consumer != w.nextDelivery {
			b.err = reposition("gap", fmt.Errorf("delivery %d arrived where %d was due", md.Sequence.Consumer, w.nextDelivery))
			return b
		}
		seq := md.Sequence.Stream
		if seq > b.lastSeq && w.verify {
			if err := w.verifyFirst(ctx, from, seq); err != nil {
				b.err = err
				return b
			}
			w.verify = false
		}
		w.nextDelivery++
		b.taken++
		b.last = m
		b.pending = md.NumPending
		if seq <= b.lastSeq {
			w.e.m.skipped.WithLabelValues(name, SkipRedelivered).Inc()
			continue
		}
		b.lastSeq = seq
		ev, err := bus.DecodeEvent(m)
		t := ev.Time
		if t.IsZero() {
			// No ce-time: the time the stream stored the message is just as
			// fixed, so a replay gives the same rows.
			t = md.Timestamp.UTC()
			ev.Time = t
		}
		b.lastTime = t
		switch {
		case err != nil:
			b.bad = append(b.bad, badEvent{seq: seq, id: ev.ID, typ: ev.Type, subject: m.Subject(), why: err.Error(), time: t})
			w.e.m.skipped.WithLabelValues(name, SkipMalformed).Inc()
			w.log.Warn("skipping a malformed event", "seq", seq, "subject", m.Subject(), "error", err)
		case ev.Payload == nil:
			w.e.m.skipped.WithLabelValues(name, SkipUnknownType).Inc()
			w.log.Debug("skipping an event of an unknown type", "seq", seq, "type", ev.Type)
		default:
			b.events = append(b.events, ev)
		}
	}
	return b
}

// verifyFirst checks, for the first message after positioning, that the
// stream holds no message of the projection's subjects between the
// checkpoint (after) and it: nobody moved the consumer under us.
func (w *Worker) verifyFirst(ctx context.Context, after, seq uint64) error {
	if seq == after+1 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	s, err := w.e.js.Stream(ctx, streams.Events)
	if err != nil {
		return reposition("fetch_error", fmt.Errorf("could not look up stream %s: %w", streams.Events, err))
	}
	for _, subj := range w.p.Subjects() {
		msg, err := s.GetMsg(ctx, after+1, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return reposition("fetch_error", fmt.Errorf("could not look up the first event after %d: %w", after, err))
		}
		if msg.Sequence < seq {
			return reposition("gap", fmt.Errorf("the consumer started at %d but %d comes first after the checkpoint %d", seq, msg.Sequence, after))
		}
	}
	return nil
}

// apply commits b, retrying until it succeeds or ctx ends, then acknowledges it.
func (w *Worker) apply(ctx context.Context, b *batch) error {
	if b.taken == 0 || b.last == nil {
		return nil
	}
	name := w.p.Name()
	if b.lastSeq > w.applied {
		bo := backoff{min: w.e.o.RetryMin, max: w.e.o.RetryMax}
		oneByOne := false
		for {
			start := time.Now()
			refused, err := w.commit(ctx, b, oneByOne)
			if err == nil {
				w.e.m.applyTime.WithLabelValues(name).Observe(time.Since(start).Seconds())
				w.e.m.applied.WithLabelValues(name).Add(float64(len(b.events) - refused))
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errCheckpointMoved) {
				return reposition("checkpoint_moved", err)
			}
			w.e.m.errors.WithLabelValues(name).Inc()
			if !oneByOne && refusedByData(err) {
				// One event's data is refused: apply the batch event by event
				// to find it, record it and go on.
				w.log.Warn("an event of the batch is refused; applying it event by event", "from", b.events[0].Seq, "to", b.lastSeq, "error", err)
				oneByOne = true
				continue
			}
			w.failing.Store(true)
			w.log.Error("could not apply a batch; retrying", "from", w.applied+1, "to", b.lastSeq, "error", err)
			if !sleep(ctx, bo.next()) {
				return ctx.Err()
			}
		}
		w.failing.Store(false)
		w.applied = b.lastSeq
		w.checkpoint.Store(b.lastSeq)
		w.e.m.checkpoint.WithLabelValues(name).Set(float64(b.lastSeq))
		if w.e.afterCommit != nil && !w.e.afterCommit(b.lastSeq) {
			return context.Canceled
		}
	}
	w.e.m.batchSize.WithLabelValues(name).Observe(float64(b.taken))
	w.e.m.pending.WithLabelValues(name).Set(float64(b.pending))
	// AckAll: this acknowledges every message of the batch. A lost ack only
	// means a redelivery, which is skipped.
	if err := b.last.Ack(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		w.log.Debug("could not acknowledge a batch", "seq", b.lastSeq, "error", err)
	}
	return nil
}

// pull is one outstanding pull request.
type pull struct {
	batch  jetstream.MessageBatch
	cancel context.CancelFunc
}

func (w *Worker) endPull() {
	if w.pull != nil {
		w.pull.cancel()
		w.pull = nil
	}
}

// collect returns the next messages: up to Batch, closing early when no
// message came for Linger or MaxWait passed since the first. A non-nil error
// (a failed pull) comes with the messages received before it.
func (w *Worker) collect(ctx context.Context) ([]jetstream.Msg, error) {
	o := w.e.o
	out := make([]jetstream.Msg, 0, min(o.Batch, 256))
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	var deadline time.Time
	for len(out) < o.Batch {
		if w.pull == nil {
			pctx, cancel := context.WithTimeout(ctx, o.Pull)
			mb, err := w.cons.Fetch(o.Batch, jetstream.FetchContext(pctx))
			if err != nil {
				cancel()
				return out, fmt.Errorf("could not pull from %s: %w", ConsumerName(w.p), err)
			}
			w.pull = &pull{batch: mb, cancel: cancel}
		}
		ch := w.pull.batch.Messages()
		var wait <-chan time.Time
		if len(out) > 0 {
			d := min(o.Linger, time.Until(deadline))
			if d <= 0 {
				return out, nil
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			wait = timer.C
		}
		// Take what is buffered without touching the timer.
		select {
		case m, ok := <-ch:
			if !ok {
				if err := w.pullEnded(ctx); err != nil || len(out) > 0 {
					return out, err
				}
				continue
			}
			if len(out) == 0 {
				deadline = time.Now().Add(o.MaxWait)
			}
			out = append(out, m)
			continue
		default:
		}
		select {
		case m, ok := <-ch:
			if !ok {
				if err := w.pullEnded(ctx); err != nil || len(out) > 0 {
					return out, err
				}
				continue
			}
			if len(out) == 0 {
				deadline = time.Now().Add(o.MaxWait)
			}
			out = append(out, m)
		case <-wait:
			return out, nil
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// pullEnded closes the finished pull and says whether it failed.
func (w *Worker) pullEnded(ctx context.Context) error {
	err := w.pull.batch.Error()
	w.endPull()
	switch {
	case err == nil,
		errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrNoMessages),
		errors.Is(err, jetstream.ErrBatchCompleted),
		errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return nil
	}
	return fmt.Errorf("a pull from %s failed: %w", ConsumerName(w.p), err)
}

type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
