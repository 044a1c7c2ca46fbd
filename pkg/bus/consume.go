package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
)

// Consumer defaults: bounded in flight so that a slow handler applies
// back-pressure instead of buffering without limit.
const (
	DefaultMaxAckPending = 256
	DefaultAckWait       = 30 * time.Second
)

// ErrNotDurable is returned for a consumer configuration without a durable name.
var ErrNotDurable = errors.New("consumer must be durable: set Durable")

// EnsureConsumer creates or updates a durable, explicitly acknowledged pull
// consumer on stream. Every field the caller sets is kept; the ack policy is
// forced to explicit, and MaxAckPending and AckWait get bounded defaults.
func EnsureConsumer(ctx context.Context, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if cfg.Durable == "" {
		return nil, ErrNotDurable
	}
	cfg.AckPolicy = jetstream.AckExplicitPolicy
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = DefaultMaxAckPending
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = DefaultAckWait
	}
	c, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return nil, fmt.Errorf("could not create consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	return c, nil
}

// Message is a decoded message with its place in the stream.
type Message struct {
	envelope.Envelope
	// NATSSubject is the subject the message was published on.
	NATSSubject string
	// Seq is the stream sequence.
	Seq uint64
	// Delivered counts deliveries of this message to this consumer.
	Delivered uint64
}

// NothingPulled reports whether a pull from a consumer ended without a
// message because none was waiting: the pull request expired on the server
// (nats.ErrTimeout), the fetch's own deadline passed, or the server said
// there were none. An idle consumer is the normal state, not a failure: a
// puller logs nothing and pulls again.
func NothingPulled(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages)
}

// Decode reads the envelope and stream position of a JetStream message.
func Decode(msg jetstream.Msg) (Message, error) {
	m := Message{NATSSubject: msg.Subject()}
	if md, err := msg.Metadata(); err == nil {
		m.Seq = md.Sequence.Stream
		m.Delivered = md.NumDelivered
	}
	env, err := envelope.FromHeader(msg.Headers(), msg.Data())
	if err != nil {
		return m, err
	}
	m.Envelope = env
	return m, nil
}

// Event is a decoded event with its typed payload.
type Event struct {
	Message
	Payload events.Payload
}

// DecodeEvent reads an event message and its typed payload. An unknown type
// is not an error for callers that only pass events along: Payload is nil and
// the raw data stays in Data.
func DecodeEvent(msg jetstream.Msg) (Event, error) {
	m, err := Decode(msg)
	if err != nil {
		return Event{Message: m}, err
	}
	ev := Event{Message: m}
	if _, known := events.Lookup(m.Type); !known {
		return ev, nil
	}
	p, err := events.Decode(m.Type, m.Data)
	if err != nil {
		return ev, err
	}
	ev.Payload = p
	return ev, nil
}
