package natsout

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
)

// Outbox publishes the scheduler's events and commands. A round of messages
// is sent asynchronously, in order, on one connection, and every PubAck is
// awaited together: one round trip for the round instead of one per message.
// From the first message without a PubAck on, the rest are published again
// one at a time with bus.Publisher's retries (same Nats-Msg-Id: a message
// that was stored after all is stored once).
type Outbox struct {
	pub     *bus.Publisher
	js      jetstream.JetStream
	timeout time.Duration
}

var _ command.Bus = (*Outbox)(nil)

// NewOutbox returns an Outbox on nc with a JetStream context of its own (for
// its asynchronous publishes); pub builds the envelopes and does the
// retries. Each round, retries included, is bounded by timeout.
func NewOutbox(nc *nats.Conn, pub *bus.Publisher, timeout time.Duration) (*Outbox, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return nil, fmt.Errorf("could not create the scheduler's publisher: %w", err)
	}
	return &Outbox{pub: pub, js: js, timeout: timeout}, nil
}

// Publish sends msgs in order and waits for their PubAcks; it returns how
// many of the first were acknowledged.
func (o *Outbox) Publish(ctx context.Context, msgs []command.Msg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	built := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		nm, err := o.build(ctx, m)
		if err != nil {
			return i, err
		}
		built[i] = nm
	}
	if len(built) == 1 {
		if _, err := o.pub.PublishMsg(ctx, built[0]); err != nil {
			return 0, err
		}
		return 1, nil
	}
	futures := make([]jetstream.PubAckFuture, 0, len(built))
	for _, nm := range built {
		f, err := o.js.PublishMsgAsync(nm)
		if err != nil {
			break
		}
		futures = append(futures, f)
	}
	acked := 0
wait:
	for _, f := range futures {
		select {
		case <-f.Ok():
			acked++
		case <-f.Err():
			break wait
		case <-ctx.Done():
			break wait
		}
	}
	// The rest, in order, one at a time with retries.
	for i := acked; i < len(built); i++ {
		if _, err := o.pub.PublishMsg(ctx, built[i]); err != nil {
			return i, err
		}
	}
	return len(built), nil
}

func (o *Outbox) build(ctx context.Context, m command.Msg) (*nats.Msg, error) {
	opts := []bus.MsgOption{bus.WithID(m.ID), bus.WithAttempt(m.Attempt), withTrace(m.TraceParent, m.TraceState)}
	if m.Event != nil {
		if !m.Time.IsZero() {
			opts = append(opts, bus.WithTime(m.Time))
		}
		nm, _, err := o.pub.EventMsg(ctx, m.Event, opts...)
		return nm, err
	}
	env, err := o.pub.NewEnvelope(ctx, m.Command.CommandType(), "", m.Command, opts...)
	if err != nil {
		return nil, err
	}
	return env.Msg(m.Command.Subject()), nil
}

// withTrace puts the run's trace context on a message (the context of the
// call that decided may belong to another run).
func withTrace(tp, ts string) bus.MsgOption {
	return func(e *envelope.Envelope) {
		if tp != "" {
			e.TraceParent, e.TraceState = tp, ts
		}
	}
}

// AppendIf appends one event on condition that the last event stored on
// cond.Subject has sequence cond.Seq (JetStream's expected last subject
// sequence, on a wildcard subject); command.ErrConflict when it has not.
func (o *Outbox) AppendIf(ctx context.Context, m command.Msg, cond command.Condition) error {
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	nm, err := o.build(ctx, m)
	if err != nil {
		return err
	}
	nm.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(cond.Seq, 10))
	nm.Header.Set(jetstream.ExpectedLastSubjSeqSubjHeader, cond.Subject)
	_, err = o.pub.PublishMsg(ctx, nm)
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return fmt.Errorf("%w: %v", command.ErrConflict, err)
	}
	return err
}
