// Package natsin is how work reaches the runner: dispatches pulled from its
// pool's shared consumer (only while it has a free slot), and the commands
// addressed to this runner.
package natsin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/tracing"
	"github.com/phantom-run/phantom/services/runner/internal/app/command"
)

// Slots are the runner's slots and what runs in them (command.Runner).
type Slots interface {
	AcquireSlot(ctx context.Context) bool
	ReleaseSlot()
	Start(ctx context.Context, d commands.Dispatch, del command.Delivery)
}

// Handler acts on the commands addressed to the runner.
type Handler interface {
	Cancel(cmd commands.RunnerCancel) bool
	Input(cmd commands.RunnerInput) bool
	Pause(cmd commands.RunnerPause) bool
	Resume(cmd commands.RunnerResume) bool
	// Detect detects the agent CLIs again and publishes runner.capabilities.
	Detect(cmd commands.RunnerDetect)
}

// DispatchConsumerName is the durable consumer shared by a pool's runners.
func DispatchConsumerName(pool string) string { return "runners-" + pool }

// CommandConsumerName is the durable consumer of one runner's commands.
func CommandConsumerName(runnerID string) string { return "runner-" + runnerID }

// DispatchAckWait is how long a fetched dispatch may stay unacknowledged
// before another runner gets it; a runner still preparing marks it in
// progress every third of it.
const DispatchAckWait = 30 * time.Second

// EnsureDispatchConsumer creates (or finds) the pool's shared consumer. Every
// runner of the pool asks for the same configuration.
func EnsureDispatchConsumer(ctx context.Context, js jetstream.JetStream, stream, pool string) (jetstream.Consumer, error) {
	return bus.EnsureConsumer(ctx, js, stream, jetstream.ConsumerConfig{
		Durable:       DispatchConsumerName(pool),
		Description:   "Dispatches of runner pool " + pool + ", pulled by its runners when they have a free slot.",
		FilterSubject: subjects.Dispatch(pool),
		AckWait:       DispatchAckWait,
	})
}

// EnsureCommandConsumer creates the consumer of one runner's commands; it
// disappears once the runner has been gone for inactive.
func EnsureCommandConsumer(ctx context.Context, js jetstream.JetStream, stream, runnerID string, inactive time.Duration) (jetstream.Consumer, error) {
	return bus.EnsureConsumer(ctx, js, stream, commandConsumerConfig(runnerID, inactive))
}

// commandConsumerConfig is the one configuration of a runner's command
// consumer: the Watermill subscriber asks the server for the same.
func commandConsumerConfig(runnerID string, inactive time.Duration) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:           CommandConsumerName(runnerID),
		Description:       "Commands addressed to runner " + runnerID + ".",
		FilterSubject:     subjects.RunnerCommands(runnerID),
		InactiveThreshold: inactive,
		MaxAckPending:     64,
		// A command whose handler keeps failing (a panic the Recoverer
		// caught) is given up after a few tries instead of looping.
		MaxDeliver: commandMaxDeliver,
	}
}

// delivery is a dispatch's JetStream message (command.Delivery).
type delivery struct{ msg jetstream.Msg }

func (d delivery) Ack() error { return d.msg.Ack() }
func (d delivery) Nak() error { return d.msg.Nak() }
func (d delivery) NakWithDelay(delay time.Duration) error {
	return d.msg.NakWithDelay(delay)
}
func (d delivery) InProgress() error { return d.msg.InProgress() }
func (d delivery) Redelivered() bool {
	md, err := d.msg.Metadata()
	return err == nil && md.NumDelivered > 1
}

// PullDispatches fetches one dispatch per free slot until ctx ends.
func PullDispatches(ctx context.Context, cons jetstream.Consumer, slots Slots, log *slog.Logger) error {
	backoff := 100 * time.Millisecond
	for {
		if !slots.AcquireSlot(ctx) {
			return nil
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		msg, err := cons.Next(jetstream.FetchContext(fctx))
		cancel()
		if err != nil {
			slots.ReleaseSlot()
			if ctx.Err() != nil {
				return nil
			}
			if foundNothing(err) {
				backoff = 100 * time.Millisecond
				continue
			}
			log.Warn("could not fetch a dispatch", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		if ctx.Err() != nil {
			// Fetched as the runner stops: someone else will run it.
			_ = msg.Nak()
			slots.ReleaseSlot()
			return nil
		}
		d, mctx, err := decodeDispatch(ctx, msg)
		if err != nil {
			log.Error("dropping a malformed dispatch", "subject", msg.Subject(), "error", err)
			_ = msg.Term()
			slots.ReleaseSlot()
			continue
		}
		slots.Start(mctx, d, delivery{msg: msg})
	}
}

// foundNothing: the fetch ended without a dispatch because there was none
// (the pull request expired on the server, nats.ErrTimeout; or the fetch's
// own deadline passed). An idle pool is the normal state, not a failure.
func foundNothing(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, jetstream.ErrNoMessages)
}

func decodeDispatch(ctx context.Context, msg jetstream.Msg) (commands.Dispatch, context.Context, error) {
	var d commands.Dispatch
	m, err := bus.Decode(msg)
	if err != nil {
		return d, ctx, err
	}
	if m.Type != commands.DispatchType {
		return d, ctx, fmt.Errorf("ce-type %q is not %s", m.Type, commands.DispatchType)
	}
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return d, ctx, fmt.Errorf("could not decode the dispatch: %w", err)
	}
	if err := subjects.CheckToken("runId", d.RunID); err != nil {
		return d, ctx, err
	}
	if d.Attempt < 1 {
		return d, ctx, fmt.Errorf("attempt %d must be 1 or more", d.Attempt)
	}
	return d, tracing.Extract(ctx, msg.Headers()), nil
}
