// Package natsin is how requests reach the scheduler over NATS: the commands addressed
// to it on PHANTOM_COMMANDS, pulled in batches from the durable consumer
// scheduler-commands, and the queue asked over request/reply.
package natsin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
)

// Handler handles a batch of commands (command.Scheduler).
type Handler interface {
	Handle(ctx context.Context, cmds []command.Command) []error
}

// MaxBatch bounds the commands handled in one go.
const MaxBatch = 256

// ConsumeCommands pulls the scheduler's commands until ctx ends and hands
// them to h in batches: every command already waiting when one arrives is
// taken with it (so a burst of submits is decided, recorded and dispatched
// in one pipelined publish round), and a lone command goes at once. A
// command that does not decode, or of a type the scheduler does not know,
// is terminated and logged: delivering it again would not make it valid. A
// command h could not finish (a publish failed, a cancel waits for its run)
// is handed back to be delivered again after retryDelay.
func ConsumeCommands(ctx context.Context, cons jetstream.Consumer, h Handler, retryDelay time.Duration, log *slog.Logger) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		msgs, err := next(ctx, cons)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Warn("could not pull the scheduler's commands; retrying", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if len(msgs) == 0 {
			continue
		}
		var cmds []command.Command
		var held []jetstream.Msg
		for _, m := range msgs {
			c, ok := decode(m, log)
			if !ok {
				_ = m.Term()
				continue
			}
			cmds = append(cmds, c)
			held = append(held, m)
		}
		if len(cmds) == 0 {
			continue
		}
		errs := h.Handle(ctx, cmds)
		for i, m := range held {
			switch err := errs[i]; {
			case err == nil:
				_ = m.Ack()
			case errors.Is(err, command.ErrCancelPending), errors.Is(err, command.ErrNotLeader):
				_ = m.NakWithDelay(retryDelay)
			default:
				if ctx.Err() == nil {
					log.Warn("a command could not be handled; it will be delivered again", "subject", m.Subject(), "error", err)
				}
				_ = m.NakWithDelay(retryDelay)
			}
		}
	}
	return nil
}

// next waits for a command, then takes the ones waiting behind it.
func next(ctx context.Context, cons jetstream.Consumer) ([]jetstream.Msg, error) {
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	first, err := cons.Next(jetstream.FetchContext(fctx))
	if err != nil {
		if bus.NothingPulled(err) {
			return nil, nil
		}
		return nil, err
	}
	out := []jetstream.Msg{first}
	md, err := first.Metadata()
	if err != nil || md.NumPending == 0 {
		return out, nil
	}
	more, err := cons.FetchNoWait(int(min(md.NumPending, MaxBatch-1)))
	if err != nil {
		return out, nil
	}
	for m := range more.Messages() {
		out = append(out, m)
	}
	return out, nil
}

func decode(m jetstream.Msg, log *slog.Logger) (command.Command, bool) {
	msg, err := bus.Decode(m)
	if err != nil {
		log.Error("malformed command dropped", "subject", m.Subject(), "error", err)
		return command.Command{}, false
	}
	c := command.Command{TraceParent: msg.TraceParent, TraceState: msg.TraceState}
	switch msg.Type {
	case commands.SubmitRun{}.CommandType():
		var cmd commands.SubmitRun
		if err := json.Unmarshal(msg.Data, &cmd); err != nil {
			log.Error("malformed submit dropped", "id", msg.ID, "error", err)
			return c, false
		}
		c.Submit = &cmd
	case commands.CancelRun{}.CommandType():
		var cmd commands.CancelRun
		if err := json.Unmarshal(msg.Data, &cmd); err != nil {
			log.Error("malformed cancel dropped", "id", msg.ID, "error", err)
			return c, false
		}
		c.Cancel = &cmd
	default:
		log.Warn("unknown command dropped", "type", msg.Type, "id", msg.ID)
		return c, false
	}
	return c, true
}
