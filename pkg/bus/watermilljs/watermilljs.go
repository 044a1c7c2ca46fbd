// Package watermilljs is a Watermill Publisher and Subscriber over NATS
// JetStream, for handlers written with Watermill's router, middleware and
// CQRS components.
//
// It replaces watermill-nats v2.1.3's JetStream adapter, whose defects matter
// to an event-sourced system, and each has a test in this package:
//   - consumers are always durable (a restart resumes where it stopped);
//   - the consumer configuration given is the one the server gets;
//   - a malformed message is terminated and logged, never a panic;
//   - Close waits for the one goroutine that owns the output channel, so
//     shutdown cannot race a delivery;
//   - every publish carries Nats-Msg-Id (the message UUID) and is retried
//     with it, so JetStream stores it once.
package watermilljs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/pkg/bus"
)

// Publisher publishes Watermill messages to JetStream; the topic is the subject.
type Publisher struct {
	pub     *bus.Publisher
	timeout time.Duration
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher over pub. Each Publish is bounded by
// timeout (default 10s) including retries.
func NewPublisher(pub *bus.Publisher, timeout time.Duration) *Publisher {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	return &Publisher{pub: pub, timeout: timeout}
}

// Publish sends messages in order, each with its UUID as Nats-Msg-Id and its
// metadata as headers.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	for _, m := range msgs {
		h := nats.Header{}
		for k, v := range m.Metadata {
			h.Set(k, v)
		}
		h.Set(nats.MsgIdHdr, m.UUID)
		ctx, cancel := context.WithTimeout(m.Context(), p.timeout)
		_, err := p.pub.PublishMsg(ctx, &nats.Msg{Subject: topic, Header: h, Data: m.Payload})
		cancel()
		if err != nil {
			return fmt.Errorf("could not publish message %s: %w", m.UUID, err)
		}
	}
	return nil
}

// Close does nothing: the connection belongs to the caller.
func (p *Publisher) Close() error { return nil }

// Unmarshaler turns a JetStream message into a Watermill message; an error
// marks the message malformed.
type Unmarshaler func(jetstream.Msg) (*message.Message, error)

// CloudEventsUnmarshaler requires a CloudEvents envelope; the message UUID is
// its ce-id and every header becomes metadata.
func CloudEventsUnmarshaler(msg jetstream.Msg) (*message.Message, error) {
	env, err := envelope.FromHeader(msg.Headers(), msg.Data())
	if err != nil {
		return nil, err
	}
	m := message.NewMessage(env.ID, msg.Data())
	for k, v := range msg.Headers() {
		if len(v) > 0 {
			m.Metadata.Set(k, v[0])
		}
	}
	return m, nil
}

// SubscriberConfig configures a Subscriber. Stream and Durable are required.
type SubscriberConfig struct {
	// Stream the consumers read from.
	Stream string
	// Durable names the durable consumer of a topic. Required: there is no
	// ephemeral mode, so a restarted subscriber resumes where it stopped.
	Durable func(topic string) string
	// Consumer is the consumer configuration; every field set is sent to the
	// server as is. FilterSubject and Durable are filled from the topic, the
	// ack policy is always explicit, and MaxAckPending defaults to a bound.
	Consumer jetstream.ConsumerConfig
	// Unmarshal decodes messages (default CloudEventsUnmarshaler).
	Unmarshal Unmarshaler
	// NakDelay is how long a nacked message waits before redelivery (default 1s).
	NakDelay time.Duration
	// CloseTimeout bounds Close (default 10s).
	CloseTimeout time.Duration
	// Logger receives malformed-message and ack errors.
	Logger *slog.Logger
}

// Subscriber subscribes Watermill handlers to JetStream durable consumers.
type Subscriber struct {
	js      jetstream.JetStream
	cfg     SubscriberConfig
	closing chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
	mu      sync.Mutex
	closed  bool
}

var _ message.Subscriber = (*Subscriber)(nil)

// NewSubscriber validates cfg and returns a Subscriber.
func NewSubscriber(js jetstream.JetStream, cfg SubscriberConfig) (*Subscriber, error) {
	if cfg.Stream == "" {
		return nil, errors.New("watermilljs: SubscriberConfig.Stream is required")
	}
	if cfg.Durable == nil {
		return nil, errors.New("watermilljs: SubscriberConfig.Durable is required (consumers are always durable)")
	}
	if cfg.Unmarshal == nil {
		cfg.Unmarshal = CloudEventsUnmarshaler
	}
	if cfg.NakDelay <= 0 {
		cfg.NakDelay = time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Subscriber{js: js, cfg: cfg, closing: make(chan struct{})}, nil
}

// Subscribe returns the messages of topic (a subject, wildcards allowed). The
// channel closes when ctx ends or the subscriber closes.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("watermilljs: subscriber is closed")
	}
	cc := s.cfg.Consumer
	cc.Durable = s.cfg.Durable(topic)
	cc.FilterSubject = topic
	cc.FilterSubjects = nil
	cons, err := bus.EnsureConsumer(ctx, s.js, s.cfg.Stream, cc)
	if err != nil {
		return nil, err
	}
	iter, err := cons.Messages(jetstream.PullMaxMessages(1))
	if err != nil {
		return nil, fmt.Errorf("could not pull from consumer %s: %w", cc.Durable, err)
	}
	out := make(chan *message.Message)
	s.wg.Add(1)
	go s.pump(ctx, iter, out)
	return out, nil
}

// pump is the only writer of out and its only closer.
func (s *Subscriber) pump(ctx context.Context, iter jetstream.MessagesContext, out chan *message.Message) {
	defer s.wg.Done()
	defer close(out)
	stop := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
		case <-s.closing:
		}
		iter.Stop()
		close(stop)
	}()
	defer func() { <-stop }()
	for {
		jm, err := iter.Next()
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return
			}
			s.cfg.Logger.Warn("watermilljs: pull failed", "error", err)
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
				continue
			}
		}
		if !s.deliver(ctx, jm, out) {
			return
		}
	}
}

// deliver hands one message to the handler and settles it. It returns false
// when the subscriber is stopping (the unsettled message is redelivered later).
func (s *Subscriber) deliver(ctx context.Context, jm jetstream.Msg, out chan *message.Message) bool {
	m, err := s.cfg.Unmarshal(jm)
	if err != nil {
		s.cfg.Logger.Error("watermilljs: malformed message terminated", "subject", jm.Subject(), "error", err)
		if terr := jm.Term(); terr != nil {
			s.cfg.Logger.Error("watermilljs: could not terminate a malformed message", "error", terr)
		}
		return true
	}
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m.SetContext(mctx)
	select {
	case out <- m:
	case <-s.closing:
		return false
	case <-ctx.Done():
		return false
	}
	select {
	case <-m.Acked():
		actx, acancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer acancel()
		if err := jm.DoubleAck(actx); err != nil {
			s.cfg.Logger.Error("watermilljs: ack failed", "subject", jm.Subject(), "error", err)
		}
	case <-m.Nacked():
		if err := jm.NakWithDelay(s.cfg.NakDelay); err != nil {
			s.cfg.Logger.Error("watermilljs: nak failed", "subject", jm.Subject(), "error", err)
		}
	case <-s.closing:
		// Hand it back now rather than after AckWait.
		_ = jm.Nak()
		return false
	case <-ctx.Done():
		_ = jm.Nak()
		return false
	}
	return true
}

// Close stops every subscription and waits for their goroutines. Messages
// delivered but not acked are redelivered by the server after AckWait.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.once.Do(func() { close(s.closing) })
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(s.cfg.CloseTimeout):
		return fmt.Errorf("watermilljs: subscriptions did not stop within %s", s.cfg.CloseTimeout)
	}
}
