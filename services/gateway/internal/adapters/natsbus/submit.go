// Package natsbus is the gateway's side of the bus: it delivers commands
// and waits for the answering events over core NATS, and reads a run's
// events from PHANTOM_EVENTS with ordered consumers for live streams.
package natsbus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
)

// Submitter delivers SubmitRun commands and listens for the scheduler's answer.
type Submitter struct {
	nc  *nats.Conn
	pub *bus.Publisher
	log *slog.Logger
}

// NewSubmitter returns a submitter publishing with pub and listening on nc.
func NewSubmitter(nc *nats.Conn, pub *bus.Publisher, log *slog.Logger) *Submitter {
	return &Submitter{nc: nc, pub: pub, log: log}
}

// answerBuffer bounds the events buffered per waiting submit: the answer
// comes among the first few events of a run.
const answerBuffer = 64

// SendSubmit subscribes to the run's events, makes sure the server has the
// subscription, then publishes the command with the id "submit-<run id>" so
// that a retried publish is stored once.
func (s *Submitter) SendSubmit(ctx context.Context, cmd commands.SubmitRun) (command.AnswerWaiter, error) {
	ch := make(chan *nats.Msg, answerBuffer)
	sub, err := s.nc.ChanSubscribe(subjects.AggregateEvents(events.AggregateRun, cmd.RunID), ch)
	if err != nil {
		return nil, fmt.Errorf("could not subscribe to run %s: %w", cmd.RunID, err)
	}
	// The answer may come from another connection: the subscription must
	// be in place on the server before the command can cause it.
	if err := s.nc.FlushWithContext(ctx); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("could not subscribe to run %s: %w", cmd.RunID, err)
	}
	if _, err := s.pub.Command(ctx, cmd, bus.WithID("submit-"+cmd.RunID)); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return &waiter{sub: sub, ch: ch, log: s.log}, nil
}

type waiter struct {
	sub *nats.Subscription
	ch  chan *nats.Msg
	log *slog.Logger
}

// Wait returns the first run.queued or run.rejected within d.
func (w *waiter) Wait(ctx context.Context, d time.Duration) command.Outcome {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return command.Outcome{}
		case <-timer.C:
			return command.Outcome{}
		case msg := <-w.ch:
			if out, ok := w.answer(msg); ok {
				return out
			}
		}
	}
}

func (w *waiter) answer(msg *nats.Msg) (command.Outcome, bool) {
	env, err := envelope.FromHeader(msg.Header, msg.Data)
	if err != nil {
		w.log.Warn("ignoring a malformed event while waiting for a submit's answer", "subject", msg.Subject, "error", err)
		return command.Outcome{}, false
	}
	switch env.Type {
	case events.RunQueued{}.EventType():
		var q events.RunQueued
		if err := json.Unmarshal(env.Data, &q); err != nil {
			w.log.Warn("ignoring an undecodable run.queued", "subject", msg.Subject, "error", err)
			return command.Outcome{}, false
		}
		return command.Outcome{Answer: command.AnswerQueued, Position: q.Position}, true
	case events.RunRejected{}.EventType():
		var r events.RunRejected
		if err := json.Unmarshal(env.Data, &r); err != nil {
			w.log.Warn("ignoring an undecodable run.rejected", "subject", msg.Subject, "error", err)
			return command.Outcome{}, false
		}
		return command.Outcome{Answer: command.AnswerRejected, Reason: r.Reason, Message: r.Message, Field: r.Field}, true
	}
	return command.Outcome{}, false
}

// Close stops listening.
func (w *waiter) Close() { _ = w.sub.Unsubscribe() }
