// Package ports is how requests reach the scheduler: the commands addressed
// to it on PHANTOM_COMMANDS, handled through Watermill's router, and the
// events of the log, handed to the use cases.
package ports

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/phantom-run/phantom/pkg/tracing"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
)

// UseCases are the use cases the command handler calls.
type UseCases interface {
	Submit(ctx context.Context, cmd commands.SubmitRun) error
	Cancel(ctx context.Context, cmd commands.CancelRun) error
}

// Commands handles the scheduler's commands.
type Commands struct {
	app UseCases
	log *slog.Logger
}

// NewCommands returns the handler.
func NewCommands(app UseCases, log *slog.Logger) *Commands {
	return &Commands{app: app, log: log}
}

// Handle is the Watermill handler of phantom.cmd.scheduler.>. A command that
// does not decode, or of a type the scheduler does not know, is logged and
// acknowledged: delivering it again would not make it valid. An error
// returned makes the router nack the message, which is delivered again after
// the subscriber's delay; that is how a publish that failed is retried.
func (h *Commands) Handle(msg *message.Message) error {
	// Join the trace of whoever sent the command (the gateway's request).
	ctx := tracing.WithTraceParent(msg.Context(), msg.Metadata.Get(envelope.HeaderTraceParent), msg.Metadata.Get(envelope.HeaderTraceState))
	ceType := msg.Metadata.Get(envelope.HeaderType)
	log := h.log.With("command", ceType, "id", msg.UUID)
	switch ceType {
	case commands.SubmitRun{}.CommandType():
		var cmd commands.SubmitRun
		if err := json.Unmarshal(msg.Payload, &cmd); err != nil {
			log.Error("malformed submit dropped", "error", err)
			return nil
		}
		err := h.app.Submit(ctx, cmd)
		if errors.Is(err, command.ErrNotLeader) {
			msg.Nack()
			return nil
		}
		return err
	case commands.CancelRun{}.CommandType():
		var cmd commands.CancelRun
		if err := json.Unmarshal(msg.Payload, &cmd); err != nil {
			log.Error("malformed cancel dropped", "error", err)
			return nil
		}
		err := h.app.Cancel(ctx, cmd)
		if errors.Is(err, command.ErrCancelPending) || errors.Is(err, command.ErrNotLeader) {
			// Not a failure: hand the command back to be delivered again after
			// the subscriber's delay. The router acks only a message nobody
			// nacked, so this Nack wins and nothing is logged as an error.
			msg.Nack()
			return nil
		}
		return err
	default:
		log.Warn("unknown command dropped")
		return nil
	}
}
