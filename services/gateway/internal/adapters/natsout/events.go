package natsout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// EventLog reads runs' events from PHANTOM_EVENTS.
type EventLog struct {
	js jetstream.JetStream
	// timeout bounds each JetStream API call.
	timeout time.Duration
	// buffer is how many events a stream's consumer may hold in flight:
	// small, since a slow SSE client should slow its consumer, not fill
	// the gateway's memory.
	buffer int
}

// NewEventLog returns an event log reader; timeout bounds each API call.
func NewEventLog(js jetstream.JetStream, timeout time.Duration) *EventLog {
	return &EventLog{js: js, timeout: timeout, buffer: 64}
}

// Open creates an ordered consumer (ephemeral, flow-controlled, recreated
// by the client library on a gap) filtered on the run's subjects, starting
// after the sequence after.
func (l *EventLog) Open(ctx context.Context, runID string, after uint64) (query.EventCursor, error) {
	cfg := jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.AggregateEvents(events.AggregateRun, runID)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		// An abandoned consumer (a gateway that died) is removed by the server.
		InactiveThreshold: time.Minute,
	}
	if after > 0 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = after + 1
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	cons, err := l.js.OrderedConsumer(cctx, streams.Events, cfg)
	if err != nil {
		return nil, fmt.Errorf("could not open the events of run %s: %w", runID, err)
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(l.buffer))
	if err != nil {
		return nil, fmt.Errorf("could not open the events of run %s: %w", runID, err)
	}
	return &cursor{it: it}, nil
}

// LastSeq is the sequence of the run's latest event, 0 when it has none.
func (l *EventLog) LastSeq(ctx context.Context, runID string) (uint64, error) {
	msg, err := l.last(ctx, subjects.AggregateEvents(events.AggregateRun, runID))
	if err != nil || msg == nil {
		return 0, err
	}
	return msg.Sequence, nil
}

// TerminalSeq finds the run's terminal event by looking up the last event
// of each terminal type: a run ends once, so there is at most one.
func (l *EventLog) TerminalSeq(ctx context.Context, runID string) (uint64, error) {
	var first uint64
	for _, t := range events.RunEndTypes() {
		msg, err := l.last(ctx, subjects.Event(events.AggregateRun, runID, t))
		if err != nil {
			return 0, err
		}
		if msg == nil {
			continue
		}
		p, err := events.Decode(t, msg.Data)
		if err != nil || !events.Terminal(p) {
			// An undecodable event cannot be judged; it does not end the run here.
			continue
		}
		if first == 0 || msg.Sequence < first {
			first = msg.Sequence
		}
	}
	return first, nil
}

func (l *EventLog) last(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	s, err := l.js.Stream(ctx, streams.Events)
	if err != nil {
		return nil, fmt.Errorf("could not open %s: %w", streams.Events, err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read the last event on %s: %w", subject, err)
	}
	return msg, nil
}

type cursor struct {
	it jetstream.MessagesContext
}

// Next returns the next event; ctx's error when ctx ends first.
func (c *cursor) Next(ctx context.Context) (api.RunEvent, error) {
	msg, err := c.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return api.RunEvent{}, ctx.Err()
		}
		return api.RunEvent{}, fmt.Errorf("could not read the next event: %w", err)
	}
	return toEvent(msg), nil
}

func (c *cursor) Close() { c.it.Stop() }

// toEvent converts a stored message. A message whose envelope is malformed
// is still delivered, with what its subject says, so a client's view of
// the stream has no gaps.
func toEvent(msg jetstream.Msg) api.RunEvent {
	ev := api.RunEvent{}
	if md, err := msg.Metadata(); err == nil {
		ev.Seq = md.Sequence.Stream
		ev.Time = md.Timestamp.UTC()
	}
	if ps, err := subjects.ParseEvent(msg.Subject()); err == nil {
		ev.RunID, ev.Type = ps.ID, ps.Type
	}
	data := msg.Data()
	env, err := envelope.FromHeader(msg.Headers(), data)
	if err == nil {
		ev.ID, ev.Type, ev.Source = env.ID, env.Type, env.Source
		if !env.Time.IsZero() {
			ev.Time = env.Time.UTC()
		}
		if a, err := strconv.Atoi(env.Extensions["attempt"]); err == nil {
			ev.Attempt = a
		}
	}
	if json.Valid(data) {
		ev.Data = json.RawMessage(data)
	} else {
		// Not JSON: pass it on as a string rather than drop it.
		ev.Data, _ = json.Marshal(string(data))
	}
	if ev.Attempt == 0 {
		var a struct {
			Attempt int `json:"attempt"`
		}
		if json.Unmarshal(ev.Data, &a) == nil {
			ev.Attempt = a.Attempt
		}
	}
	return ev
}
