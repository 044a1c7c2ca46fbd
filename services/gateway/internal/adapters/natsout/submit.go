// Package natsout is what the gateway does on NATS, outward of its use
// cases: it delivers commands and waits for the answering events over core
// NATS, appends the events of the aggregates it owns, asks the scheduler
// for its queue, and reads a run's events from PHANTOM_EVENTS with ordered
// consumers for live streams.
package natsout

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
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

// SendSubmit subscribes to the run's events, then publishes the command
// with the id "submit-<run id>" so that a retried publish is stored once.
func (s *Submitter) SendSubmit(ctx context.Context, cmd commands.SubmitRun) (command.AnswerWaiter, error) {
	rw, err := watchThenSend(ctx, s.nc, cmd.RunID, func() error {
		_, err := s.pub.Command(ctx, cmd, bus.WithID("submit-"+cmd.RunID))
		return err
	})
	if err != nil {
		return nil, err
	}
	return &waiter{runWatch: rw, log: s.log}, nil
}

type waiter struct {
	*runWatch
	log *slog.Logger
}

// Wait returns the first run.queued or run.rejected within d.
func (w *waiter) Wait(ctx context.Context, d time.Duration) command.Outcome {
	var out command.Outcome
	w.next(ctx, d, func(msg *nats.Msg) (ok bool) {
		out, ok = w.answer(msg)
		return ok
	})
	return out
}

func (w *waiter) answer(msg *nats.Msg) (command.Outcome, bool) {
	env, err := envelope.FromHeader(msg.Header, msg.Data)
	if err != nil {
		w.log.Warn("ignoring a malformed event while waiting for a submit's answer", "subject", msg.Subject, "error", err)
		return command.Outcome{}, false
	}
	switch env.Type {
	case events.RunQueued{}.EventType(), events.RunRejected{}.EventType():
	default:
		return command.Outcome{}, false
	}
	p, err := events.Decode(env.Type, env.Data)
	if err != nil {
		w.log.Warn("ignoring an undecodable "+env.Type, "subject", msg.Subject, "error", err)
		return command.Outcome{}, false
	}
	switch e := p.(type) {
	case *events.RunQueued:
		return command.Outcome{Answer: command.AnswerQueued, Position: e.Position}, true
	case *events.RunRejected:
		return command.Outcome{Answer: command.AnswerRejected, Reason: e.Reason, Message: e.Message, Field: e.Field}, true
	}
	return command.Outcome{}, false
}
