package natsout

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// answerBuffer bounds the events buffered per waiting command: the answer
// comes among the first few events of a run.
const answerBuffer = 64

// runWatch listens to one run's events, from before a command is sent until
// it is closed.
type runWatch struct {
	sub *nats.Subscription
	ch  chan *nats.Msg
}

// watchThenSend subscribes to the run's events, makes sure the server has
// the subscription, then sends the command: the answer may come from
// another connection, so the subscription must be in place on the server
// before the command can cause it.
func watchThenSend(ctx context.Context, nc *nats.Conn, runID string, send func() error) (*runWatch, error) {
	ch := make(chan *nats.Msg, answerBuffer)
	sub, err := nc.ChanSubscribe(subjects.AggregateEvents(events.AggregateRun, runID), ch)
	if err != nil {
		return nil, fmt.Errorf("could not subscribe to run %s: %w", runID, err)
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("could not subscribe to run %s: %w", runID, err)
	}
	if err := send(); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return &runWatch{sub: sub, ch: ch}, nil
}

// next feeds the run's events to match until it accepts one (true), d
// passes or ctx ends (false).
func (w *runWatch) next(ctx context.Context, d time.Duration, match func(*nats.Msg) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		case msg := <-w.ch:
			if match(msg) {
				return true
			}
		}
	}
}

// Close stops listening.
func (w *runWatch) Close() { _ = w.sub.Unsubscribe() }
