package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/tracing"
)

// Publisher publishes CloudEvents to JetStream and waits for the PubAck. A
// publish that gets no PubAck is retried with the same Nats-Msg-Id, so the
// stream stores it once.
type Publisher struct {
	js       jetstream.JetStream
	source   string
	attempts int
	backoff  time.Duration
	timeout  time.Duration
}

// PublisherOption tunes a Publisher.
type PublisherOption func(*Publisher)

// WithRetries sets how many times a publish is tried (default 6) and the
// first backoff (default 50ms, doubling).
func WithRetries(attempts int, backoff time.Duration) PublisherOption {
	return func(p *Publisher) { p.attempts, p.backoff = attempts, backoff }
}

// WithAttemptTimeout bounds each try (default 5s).
func WithAttemptTimeout(d time.Duration) PublisherOption {
	return func(p *Publisher) { p.timeout = d }
}

// NewPublisher returns a publisher whose events name source (service/instance)
// as their ce-source.
func NewPublisher(js jetstream.JetStream, source string, opts ...PublisherOption) *Publisher {
	p := &Publisher{js: js, source: source, attempts: 6, backoff: 50 * time.Millisecond, timeout: 5 * time.Second}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Source is the ce-source of what this publisher sends.
func (p *Publisher) Source() string { return p.source }

// MsgOption adjusts one message's envelope.
type MsgOption func(*envelope.Envelope)

// WithID fixes the ce-id (and so the Nats-Msg-Id), for a publish whose
// retries may come from a restarted process.
func WithID(id string) MsgOption { return func(e *envelope.Envelope) { e.ID = id } }

// WithTime fixes the ce-time.
func WithTime(t time.Time) MsgOption { return func(e *envelope.Envelope) { e.Time = t } }

// WithAttempt records the run attempt as the ce-attempt extension.
func WithAttempt(n int) MsgOption {
	return func(e *envelope.Envelope) {
		if n > 0 {
			if e.Extensions == nil {
				e.Extensions = map[string]string{}
			}
			e.Extensions["attempt"] = strconv.Itoa(n)
		}
	}
}

// NewEnvelope wraps a body in an envelope from this publisher, carrying the
// trace context of ctx.
func (p *Publisher) NewEnvelope(ctx context.Context, ceType, ceSubject string, body any, opts ...MsgOption) (envelope.Envelope, error) {
	data, err := json.Marshal(body)
	if err != nil {
		return envelope.Envelope{}, fmt.Errorf("could not encode %s: %w", ceType, err)
	}
	env := envelope.Envelope{ID: envelope.NewID(), Type: ceType, Source: p.source, Subject: ceSubject, Time: time.Now().UTC(), Data: data}
	env.TraceParent, env.TraceState = tracing.TraceParent(ctx)
	for _, o := range opts {
		o(&env)
	}
	return env, nil
}

// EventMsg builds the NATS message of an event without publishing it (for
// callers that publish asynchronously).
func (p *Publisher) EventMsg(ctx context.Context, ev events.Payload, opts ...MsgOption) (*nats.Msg, envelope.Envelope, error) {
	subject, err := events.Subject(ev)
	if err != nil {
		return nil, envelope.Envelope{}, fmt.Errorf("could not address %s: %w", ev.EventType(), err)
	}
	env, err := p.NewEnvelope(ctx, ev.EventType(), ev.AggregateID(), ev, opts...)
	if err != nil {
		return nil, envelope.Envelope{}, err
	}
	return env.Msg(subject), env, nil
}

// Event appends one event to the event log.
func (p *Publisher) Event(ctx context.Context, ev events.Payload, opts ...MsgOption) (*jetstream.PubAck, error) {
	msg, _, err := p.EventMsg(ctx, ev, opts...)
	if err != nil {
		return nil, err
	}
	return p.PublishMsg(ctx, msg)
}

// Command sends a command (or a dispatch) to its subject.
func (p *Publisher) Command(ctx context.Context, cmd commands.Command, opts ...MsgOption) (*jetstream.PubAck, error) {
	subject := cmd.Subject()
	env, err := p.NewEnvelope(ctx, cmd.CommandType(), "", cmd, opts...)
	if err != nil {
		return nil, err
	}
	return p.PublishMsg(ctx, env.Msg(subject))
}

// PublishMsg publishes a message built elsewhere, retrying with its Nats-Msg-Id.
func (p *Publisher) PublishMsg(ctx context.Context, msg *nats.Msg) (*jetstream.PubAck, error) {
	backoff := p.backoff
	var last error
	for try := 1; try <= p.attempts; try++ {
		actx, cancel := context.WithTimeout(ctx, p.timeout)
		ack, err := p.js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			return ack, nil
		}
		last = err
		if ctx.Err() != nil || !retryable(err) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("could not publish to %s: %w", msg.Subject, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	return nil, fmt.Errorf("could not publish to %s: %w", msg.Subject, last)
}

// retryable reports whether a failed publish may have been lost on the way
// (no PubAck) rather than refused by the server.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		// The server answered: the message was judged, retrying won't change that.
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrDisconnected)
}
