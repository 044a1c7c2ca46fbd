package natsin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus/watermilljs"
)

// commandMaxDeliver bounds the deliveries of one command.
const commandMaxDeliver = 5

// ConsumeCommands handles the runner's commands until ctx ends, as a
// Watermill router handler over the runner's durable consumer (pkg/bus/
// watermilljs): commands arrive at human rates, one at a time, and
// the router's Recoverer keeps a handler's panic from taking the runner
// down. (The scheduler consumes its commands in batches instead: it decides
// thousands a second.) A command whose handler fails is delivered again
// after the others queued behind it. A command that does not decode or names another
// runner is dropped; one for an attempt not running here is acknowledged and
// ignored (it is stale). Malformed envelopes never reach the handler: the
// subscriber terminates them.
func ConsumeCommands(ctx context.Context, js jetstream.JetStream, stream, runnerID string, inactive time.Duration, h Handler, log *slog.Logger) error {
	sub, err := watermilljs.NewSubscriber(js, watermilljs.SubscriberConfig{
		Stream:   stream,
		Durable:  func(string) string { return CommandConsumerName(runnerID) },
		Consumer: commandConsumerConfig(runnerID, inactive),
		NakDelay: 500 * time.Millisecond,
		Logger:   log,
	})
	if err != nil {
		return fmt.Errorf("could not subscribe to runner commands: %w", err)
	}
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: 10 * time.Second}, watermill.NewSlogLogger(log))
	if err != nil {
		return fmt.Errorf("could not build the command router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler("runner-commands", subjects.RunnerCommands(runnerID), sub, commandHandler(runnerID, h, log))
	if err := router.Run(ctx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("the command router stopped: %w", err)
	}
	return nil
}

// commandHandler decodes one command by its ce-type and hands it to h.
func commandHandler(runnerID string, h Handler, log *slog.Logger) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		ceType := msg.Metadata.Get(envelope.HeaderType)
		var target string
		var run func()
		var err error
		switch ceType {
		case commands.RunnerCancel{}.CommandType():
			var cmd commands.RunnerCancel
			if err = json.Unmarshal(msg.Payload, &cmd); err == nil {
				target, run = cmd.RunnerID, func() { h.Cancel(cmd) }
			}
		case commands.RunnerInput{}.CommandType():
			var cmd commands.RunnerInput
			if err = json.Unmarshal(msg.Payload, &cmd); err == nil {
				target, run = cmd.RunnerID, func() { h.Input(cmd) }
			}
		case commands.RunnerPause{}.CommandType():
			var cmd commands.RunnerPause
			if err = json.Unmarshal(msg.Payload, &cmd); err == nil {
				target, run = cmd.RunnerID, func() { h.Pause(cmd) }
			}
		case commands.RunnerResume{}.CommandType():
			var cmd commands.RunnerResume
			if err = json.Unmarshal(msg.Payload, &cmd); err == nil {
				target, run = cmd.RunnerID, func() { h.Resume(cmd) }
			}
		case commands.RunnerDetect{}.CommandType():
			var cmd commands.RunnerDetect
			if err = json.Unmarshal(msg.Payload, &cmd); err == nil {
				target, run = cmd.RunnerID, func() { h.Detect(cmd) }
			}
		default:
			log.Warn("command not supported by this runner", "type", ceType)
			return nil
		}
		if err != nil || target != runnerID {
			// Delivering it again would not make it valid.
			log.Error("dropping a command", "type", ceType, "error", err, "runner", target)
			return nil
		}
		run()
		return nil
	}
}
