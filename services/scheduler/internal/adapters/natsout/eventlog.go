package natsout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// wanted reports whether the scheduler acts on events of this subject: the
// event types the queue tracks, and every runner event. Everything else (a
// run's output chunks are most of the log) is skipped without decoding.
func wanted(subject string, tracked map[string]bool) bool {
	p, err := subjects.ParseEvent(subject)
	if err != nil {
		return false
	}
	if p.Aggregate == events.AggregateRunner {
		return true
	}
	return tracked[p.Type]
}

// EventLog reads PHANTOM_EVENTS with an ordered consumer (not durable by
// design: the state is rebuilt from sequence 1 at every start).
//
// The consumer reads the whole log and the reader drops what the scheduler
// does not track, rather than filtering on the server by
// phantom.events.run.> and phantom.events.runner.>: on nats-server 2.15 a
// consumer with several filter subjects delivers about 30 times slower on a
// log of many subjects (measured: 10,000 events over 5,000 subjects in 4.5s
// against 0.18s unfiltered), and the unfiltered read costs little more than
// phantom.events.run.> alone, since run events are nearly all of the log.
type EventLog struct {
	js      jetstream.JetStream
	log     *slog.Logger
	tracked map[string]bool
}

// NewEventLog returns an EventLog on js.
func NewEventLog(js jetstream.JetStream, log *slog.Logger) *EventLog {
	tracked := map[string]bool{}
	for _, t := range queue.Tracked {
		tracked[t] = true
	}
	return &EventLog{js: js, log: log, tracked: tracked}
}

// Reader reads the log from sequence 1: Replay up to where the log ended
// when the reader opened, then Tail for everything after.
type Reader struct {
	// position is the stream sequence of the last message read, wanted or not.
	position atomic.Uint64
	log      *slog.Logger
	tracked  map[string]bool
	iter     jetstream.MessagesContext
	// target is the stream's last sequence when the reader opened.
	target uint64
	// pending is how many matching events the consumer had to deliver then.
	pending uint64
}

// Open creates the ordered consumer and notes where the log ends now.
func (l *EventLog) Open(ctx context.Context) (*Reader, error) {
	stream, err := l.js.Stream(ctx, streams.Events)
	if err != nil {
		return nil, fmt.Errorf("could not open stream %s: %w", streams.Events, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not read stream %s: %w", streams.Events, err)
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AllEvents},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("could not create an ordered consumer on %s: %w", streams.Events, err)
	}
	ci, err := cons.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not read the ordered consumer on %s: %w", streams.Events, err)
	}
	iter, err := cons.Messages()
	if err != nil {
		return nil, fmt.Errorf("could not read %s: %w", streams.Events, err)
	}
	return &Reader{log: l.log, tracked: l.tracked, iter: iter, target: info.State.LastSeq, pending: ci.NumPending}, nil
}

// Target is the stream's last sequence when the reader opened.
func (r *Reader) Target() uint64 { return r.target }

// Positions receives the place in the log of a run's events the scheduler
// does not decode (its output, above all).
type Positions interface {
	OnPosition(runID string, seq uint64)
}

// Replay hands fn every event up to the end of the log as it was when the
// reader opened, in stream order, and pos the position of the run events fn
// does not get; it returns how many events it read. An event that does not
// decode is logged and skipped: the log is append-only, so refusing it would
// stop the scheduler for good.
func (r *Reader) Replay(ctx context.Context, fn func(command.Event), pos Positions) (int, error) {
	if r.target == 0 || r.pending == 0 {
		return 0, nil
	}
	n := 0
	for {
		msg, err := r.iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			return n, fmt.Errorf("could not replay %s (read %d events): %w", streams.Events, n, err)
		}
		n++
		if ev, ok := r.decode(msg, pos); ok {
			fn(ev)
		}
		md, err := msg.Metadata()
		if err != nil {
			return n, fmt.Errorf("could not read the position of an event: %w", err)
		}
		r.position.Store(md.Sequence.Stream)
		if md.Sequence.Stream >= r.target || md.NumPending == 0 {
			return n, nil
		}
	}
}

// Tail hands fn every later event (and pos the positions of the others)
// until ctx ends. An error from fn is logged: the event stays applied and
// the scheduler's periodic retry takes over the decision that failed.
func (r *Reader) Tail(ctx context.Context, fn func(context.Context, command.Event) error, pos Positions) error {
	stop := context.AfterFunc(ctx, r.iter.Stop)
	defer stop()
	for {
		msg, err := r.iter.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			r.log.Warn("could not read the event log; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ev, ok := r.decode(msg, pos)
		if ok {
			if err := fn(ctx, ev); err != nil && ctx.Err() == nil {
				r.log.Warn("could not act on an event; will retry", "seq", ev.Seq, "id", ev.ID, "error", err)
			}
		}
		if md, err := msg.Metadata(); err == nil {
			r.position.Store(md.Sequence.Stream)
		}
	}
}

// Position is the stream sequence of the last event read.
func (r *Reader) Position() uint64 { return r.position.Load() }

// LastSeq reads the stream's last sequence now.
func (l *EventLog) LastSeq(ctx context.Context) (uint64, error) {
	stream, err := l.js.Stream(ctx, streams.Events)
	if err != nil {
		return 0, fmt.Errorf("could not open stream %s: %w", streams.Events, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("could not read stream %s: %w", streams.Events, err)
	}
	return info.State.LastSeq, nil
}

// Close stops the consumer.
func (r *Reader) Close() { r.iter.Stop() }

func (r *Reader) decode(msg jetstream.Msg, pos Positions) (command.Event, bool) {
	if !wanted(msg.Subject(), r.tracked) {
		if p, err := subjects.ParseEvent(msg.Subject()); err == nil && p.Aggregate == events.AggregateRun && pos != nil {
			if md, err := msg.Metadata(); err == nil {
				pos.OnPosition(p.ID, md.Sequence.Stream)
			}
		}
		return command.Event{}, false
	}
	ev, err := bus.DecodeEvent(msg)
	if err != nil {
		r.log.Error("undecodable event skipped", "subject", msg.Subject(), "seq", ev.Seq, "error", err)
		return command.Event{}, false
	}
	if ev.Payload == nil {
		// A type this version does not know: nothing the scheduler acts on.
		return command.Event{Seq: ev.Seq}, true
	}
	return command.Event{Seq: ev.Seq, ID: ev.ID, Source: ev.Source, Time: ev.Time, Payload: ev.Payload, TraceParent: ev.TraceParent, TraceState: ev.TraceState}, true
}
