// Package eventlog appends one attempt's events to PHANTOM_EVENTS fast and
// in order: messages are published asynchronously (no round trip per event)
// within a bounded window of unacknowledged ones, and a message whose PubAck
// does not come is published again with the same Nats-Msg-Id (so the stream
// stores it once) until it is acknowledged or the appender is stopped.
//
// Order: one connection delivers messages to the server in the order they
// were sent, so the stream stores them in that order. A message lost on the
// way is resent in order with those after it (a lost connection loses a
// contiguous run of messages); one that could not even be sent waits for
// everything before it to be acknowledged and goes synchronously. Readers
// that need certainty order chunks by their Seq, which has no gaps.
package eventlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/bus"
)

// Appender appends the events of one attempt. Append and Sync may be called
// from several goroutines; events appended by one goroutine keep their order.
type Appender struct {
	js         jetstream.JetStream
	pub        *bus.Publisher
	ackTimeout time.Duration
	// ctx bounds retries: when it ends, unacknowledged events are given up.
	ctx context.Context

	// sendMu keeps each send and its place in the window together, so the
	// acker awaits (and resends) in send order.
	sendMu sync.Mutex
	window chan *inflight

	mu sync.Mutex
	// cond is signalled when the window empties or an error is recorded.
	cond  *sync.Cond
	inFly int
	err   error

	done chan struct{}
	// counters, for metrics
	published int64
	resent    int64
}

type inflight struct {
	msg *nats.Msg
	fut jetstream.PubAckFuture
}

// New returns an appender whose retries end with ctx. window bounds the
// events sent and not yet acknowledged.
func New(ctx context.Context, js jetstream.JetStream, pub *bus.Publisher, window int, ackTimeout time.Duration) *Appender {
	a := &Appender{js: js, pub: pub, ackTimeout: ackTimeout, ctx: ctx, window: make(chan *inflight, window), done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	go a.acker()
	return a
}

// Append sends an event without waiting for its acknowledgement. It blocks
// while the window is full. The error is that of an earlier event that could
// not be appended, or of building this one.
func (a *Appender) Append(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	msg, _, err := a.pub.EventMsg(ctx, ev, opts...)
	if err != nil {
		return err
	}
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	err = a.err
	a.mu.Unlock()
	if err != nil {
		return err
	}
	f, err := a.js.PublishMsgAsync(msg, jetstream.WithStallWait(a.ackTimeout))
	if err != nil {
		// Not sent (a stall, a reconnect). To keep its place it goes
		// synchronously once everything before it is acknowledged.
		if err := a.Sync(); err != nil {
			return err
		}
		err = a.resend(msg)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.resent++
		if err != nil {
			a.err = err
			a.cond.Broadcast()
			return err
		}
		a.published++
		return nil
	}
	a.mu.Lock()
	a.inFly++
	a.mu.Unlock()
	select {
	case a.window <- &inflight{msg: msg, fut: f}:
		return nil
	case <-a.ctx.Done():
		a.mu.Lock()
		a.inFly--
		a.cond.Broadcast()
		a.mu.Unlock()
		return fmt.Errorf("could not append %s: %w", ev.EventType(), a.ctx.Err())
	}
}

// Sync waits until every event appended so far is acknowledged, and returns
// the first error of any.
func (a *Appender) Sync() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.inFly > 0 && a.err == nil {
		a.cond.Wait()
	}
	return a.err
}

// AppendSync appends an event and waits until it (and everything before it)
// is stored.
func (a *Appender) AppendSync(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	if err := a.Append(ctx, ev, opts...); err != nil {
		return err
	}
	return a.Sync()
}

// Close waits for what was appended and stops the appender.
func (a *Appender) Close() error {
	err := a.Sync()
	a.sendMu.Lock()
	close(a.window)
	a.sendMu.Unlock()
	<-a.done
	return err
}

// Counts returns how many events were acknowledged and how many had to be sent again.
func (a *Appender) Counts() (published, resent int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.published, a.resent
}

// acker waits for acknowledgements in send order and resends what got none.
func (a *Appender) acker() {
	defer close(a.done)
	// One timer for all: since Go 1.23 Reset leaves no stale tick behind.
	t := time.NewTimer(a.ackTimeout)
	defer t.Stop()
	for f := range a.window {
		err := a.await(f, t)
		a.mu.Lock()
		a.inFly--
		if err != nil && a.err == nil {
			a.err = err
		}
		if err == nil {
			a.published++
		}
		if a.inFly == 0 || a.err != nil {
			a.cond.Broadcast()
		}
		a.mu.Unlock()
	}
}

func (a *Appender) await(f *inflight, t *time.Timer) error {
	t.Reset(a.ackTimeout)
	select {
	case <-f.fut.Ok():
		return nil
	case err := <-f.fut.Err():
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			// The server judged the message; sending it again changes nothing.
			return fmt.Errorf("could not append to %s: %w", f.msg.Subject, err)
		}
	case <-t.C:
	case <-a.ctx.Done():
		return fmt.Errorf("could not append to %s: %w", f.msg.Subject, a.ctx.Err())
	}
	a.mu.Lock()
	a.resent++
	a.mu.Unlock()
	return a.resend(f.msg)
}

// resend publishes msg synchronously until it is acknowledged or the
// appender is stopped. Same message, same Nats-Msg-Id: stored once even if
// an earlier send made it. An event is never dropped for a NATS hiccup.
func (a *Appender) resend(msg *nats.Msg) error {
	backoff := 50 * time.Millisecond
	for {
		_, err := a.pub.PublishMsg(a.ctx, msg)
		if err == nil {
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) || a.ctx.Err() != nil {
			return err
		}
		select {
		case <-a.ctx.Done():
			return fmt.Errorf("could not append to %s: %w", msg.Subject, a.ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
}
