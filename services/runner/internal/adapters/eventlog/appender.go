// Package eventlog appends one attempt's events to PHANTOM_EVENTS fast and
// in order: messages are published asynchronously (no round trip per event)
// within a bounded window of unacknowledged ones, and a message whose PubAck
// does not come is published again with the same Nats-Msg-Id (so the stream
// stores it once) until it is acknowledged or the appender is stopped.
//
// Each appender has a JetStream publisher of its own, so that its window,
// its failures and its "everything acknowledged" are its own attempt's:
// the happy path costs what a bare async publish costs, with no per-message
// bookkeeping; failures come back through the publisher's error handler.
//
// Order: one connection delivers messages to the server in the order they
// were sent, so the stream stores them in that order. Messages lost on the
// way are resent in the order their failures are reported (a lost connection
// loses a contiguous run); one that could not even be sent waits for
// everything before it and goes synchronously. Readers that need certainty
// order chunks by their Seq, which has no gaps.
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
// Nothing may be appended after Close.
type Appender struct {
	js  jetstream.JetStream
	pub *bus.Publisher
	// ctx bounds retries: when it ends, unacknowledged events are given up.
	ctx        context.Context
	ackTimeout time.Duration

	// sendMu orders sends, and keeps a synchronous send behind those before it.
	sendMu sync.Mutex

	mu sync.Mutex
	// cond is signalled when the failed queue changes or an error is recorded.
	cond *sync.Cond
	// failed are messages to resend, in the order their failures came.
	failed   []*nats.Msg
	retrying bool
	closing  bool
	err      error
	sent     int64
	resent   int64

	done chan struct{}
	// stopWake ends the wake-up of waiters when ctx ends.
	stopWake func() bool
}

// New returns an appender on nc whose retries end with ctx. window bounds
// the events sent and not yet acknowledged; ackTimeout is how long a PubAck
// may take before the event is sent again.
func New(ctx context.Context, nc *nats.Conn, pub *bus.Publisher, window int, ackTimeout time.Duration) (*Appender, error) {
	a := &Appender{pub: pub, ctx: ctx, ackTimeout: ackTimeout, done: make(chan struct{})}
	a.cond = sync.NewCond(&a.mu)
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(window),
		jetstream.WithPublishAsyncTimeout(ackTimeout),
		jetstream.WithPublishAsyncErrHandler(a.onError))
	if err != nil {
		return nil, fmt.Errorf("could not open a JetStream publisher: %w", err)
	}
	a.js = js
	go a.retrier()
	// A stopped appender wakes whoever waits on it.
	a.stopWake = context.AfterFunc(ctx, func() {
		a.mu.Lock()
		a.cond.Broadcast()
		a.mu.Unlock()
	})
	return a, nil
}

// onError is the publisher's report of an event that got no PubAck (timeout,
// reconnect, no stream answering) or was refused. It runs on NATS's
// goroutines, sometimes under the publisher's lock: it only queues.
func (a *Appender) onError(_ jetstream.JetStream, msg *nats.Msg, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var apiErr *jetstream.APIError
	switch {
	case errors.Is(err, jetstream.ErrJetStreamPublisherClosed):
		// Closing after a failure; nothing to do.
	case errors.As(err, &apiErr):
		// The server judged the message; sending it again changes nothing.
		if a.err == nil {
			a.err = fmt.Errorf("could not append to %s: %w", msg.Subject, err)
		}
	default:
		a.failed = append(a.failed, msg)
	}
	a.cond.Broadcast()
}

// Append sends an event without waiting for its acknowledgement. It blocks
// while the window is full. The error is that of an earlier event that could
// not be appended, or of building or sending this one.
func (a *Appender) Append(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	msg, _, err := a.pub.EventMsg(ctx, ev, opts...)
	if err != nil {
		return err
	}
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	a.mu.Lock()
	err = a.err
	a.sent++
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := a.js.PublishMsgAsync(msg, jetstream.WithStallWait(a.ackTimeout)); err == nil {
		return nil
	}
	// Not sent (the window stayed full, a reconnect): to keep its place it
	// goes synchronously once everything before it is acknowledged.
	if err := a.sync(); err != nil {
		return err
	}
	err = a.resend(msg)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resent++
	if err != nil && a.err == nil {
		a.err = err
	}
	return err
}

// AppendSync appends an event and waits until it (and everything before it)
// is stored.
func (a *Appender) AppendSync(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	if err := a.Append(ctx, ev, opts...); err != nil {
		return err
	}
	return a.Sync()
}

// Sync waits until every event appended so far is stored, and returns the
// first error of any.
func (a *Appender) Sync() error {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	return a.sync()
}

func (a *Appender) sync() error {
	for {
		select {
		case <-a.js.PublishAsyncComplete():
		case <-a.ctx.Done():
			return a.stopped()
		}
		// Every failure is queued before the publisher reports completion;
		// resends are synchronous, so once the queue is empty all is stored.
		a.mu.Lock()
		for (len(a.failed) > 0 || a.retrying) && a.err == nil && a.ctx.Err() == nil {
			a.cond.Wait()
		}
		err := a.err
		a.mu.Unlock()
		if err != nil {
			return err
		}
		if a.ctx.Err() != nil {
			return a.stopped()
		}
		if a.js.PublishAsyncPending() == 0 {
			return nil
		}
	}
}

func (a *Appender) stopped() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err == nil {
		a.err = fmt.Errorf("could not append every event: %w", a.ctx.Err())
	}
	return a.err
}

// Close waits for what was appended and releases the publisher.
func (a *Appender) Close() error {
	err := a.Sync()
	a.mu.Lock()
	a.closing = true
	a.cond.Broadcast()
	a.mu.Unlock()
	<-a.done
	a.stopWake()
	a.js.CleanupPublisher()
	return err
}

// Counts returns how many events were appended and how many had to be sent again.
func (a *Appender) Counts() (sent, resent int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent, a.resent
}

// retrier resends failed messages, one at a time, in order.
func (a *Appender) retrier() {
	defer close(a.done)
	for {
		a.mu.Lock()
		for len(a.failed) == 0 && !a.closing && a.ctx.Err() == nil {
			a.cond.Wait()
		}
		if len(a.failed) == 0 || a.ctx.Err() != nil {
			// Closing with nothing to resend, or stopped: what is still
			// queued is lost with the context (Sync reports it).
			a.mu.Unlock()
			return
		}
		msg := a.failed[0]
		a.failed = a.failed[1:]
		a.retrying = true
		a.resent++
		a.mu.Unlock()

		err := a.resend(msg)

		a.mu.Lock()
		a.retrying = false
		if err != nil && a.err == nil {
			a.err = err
		}
		a.cond.Broadcast()
		a.mu.Unlock()
	}
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
