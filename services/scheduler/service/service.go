package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus/watermilljs"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/scheduler/internal/adapters"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
	"github.com/phantom-run/phantom/services/scheduler/internal/ports"
)

// Name is the service's name (its ce-source is phantom/scheduler/<instance>).
const Name = "scheduler"

// ConsumerName is the durable consumer of the scheduler's commands on
// PHANTOM_COMMANDS, filtered on phantom.cmd.scheduler.>.
const ConsumerName = "scheduler-commands"

// resendMargin keeps the resend window of dispatch messages safely inside
// the stream's duplicate window, clocks and publish retries included.
const resendMargin = 30 * time.Second

// Service is a running scheduler.
type Service struct {
	cfg    Config
	env    daemon.Env
	log    *slog.Logger
	app    *command.Scheduler
	events *adapters.EventLog
	ready  atomic.Bool
}

var _ daemon.Service = (*Service)(nil)

// New builds the scheduler from cfg and the host's env. It does no I/O; Run
// rebuilds the queue and starts consuming.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if env.JS == nil || env.Metrics == nil {
		return nil, errors.New("the scheduler needs a JetStream context and a metrics registerer in its env")
	}
	metrics, err := adapters.NewMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	outbox := adapters.NewOutbox(env.Publisher(), cfg.PublishTimeout)
	app, err := command.New(command.Config{
		Limits:       queue.Limits{MaxRunning: cfg.MaxRunning, MaxPerProvider: cfg.MaxPerProvider, Capacity: cfg.Capacity},
		ResendWindow: streams.DuplicateWindow - resendMargin,
	}, outbox, metrics, log)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, env: env, log: log, app: app, events: adapters.NewEventLog(env.JS, log)}
	if env.Checks != nil {
		env.Checks.Add(Name, func(context.Context) error {
			if !s.ready.Load() {
				return errors.New("the queue is being rebuilt from the event log")
			}
			return nil
		})
	}
	return s, nil
}

// Run rebuilds the queue from the event log, then consumes commands and
// tails the log until ctx ends; it returns nil after draining.
func (s *Service) Run(ctx context.Context) error {
	defer s.ready.Store(false)
	reader, err := s.rebuild(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	defer reader.Close()

	sub, err := watermilljs.NewSubscriber(s.env.JS, watermilljs.SubscriberConfig{
		Stream:  streams.Commands,
		Durable: func(string) string { return ConsumerName },
		Consumer: jetstream.ConsumerConfig{
			Description: "The scheduler's commands: submit_run, cancel_run.",
			AckWait:     s.cfg.CommandAckWait,
		},
		NakDelay: s.cfg.CommandRetryDelay,
		Logger:   s.log,
	})
	if err != nil {
		return fmt.Errorf("could not subscribe to the scheduler's commands: %w", err)
	}
	defer func() {
		if err := sub.Close(); err != nil {
			s.log.Warn("could not close the command subscriber", "error", err)
		}
	}()
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: s.cfg.PublishTimeout}, watermill.NewSlogLogger(s.log))
	if err != nil {
		return fmt.Errorf("could not create the command router: %w", err)
	}
	router.AddMiddleware(middleware.Recoverer)
	router.AddConsumerHandler(ConsumerName, subjects.ServiceCommands(commands.ServiceScheduler), sub,
		ports.NewCommands(s.app, s.log).Handle)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return reader.Tail(gctx, s.app.OnEvent)
	})
	g.Go(func() error {
		err := router.Run(gctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("every handler stopped")
		}
		return fmt.Errorf("the command router stopped: %w", err)
	})
	g.Go(func() error {
		select {
		case <-router.Running():
			s.ready.Store(true)
			s.log.Info("scheduler ready", "consumer", ConsumerName)
		case <-gctx.Done():
		}
		return nil
	})
	g.Go(func() error {
		t := time.NewTicker(s.cfg.RetryInterval)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				if err := s.app.Tick(gctx); err != nil && gctx.Err() == nil {
					s.log.Warn("retry of pending decisions failed", "error", err)
				}
			}
		}
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// rebuild replays the event log into the queue and takes the decisions a
// previous instance may have left undone.
func (s *Service) rebuild(ctx context.Context) (*adapters.Reader, error) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReplayTimeout)
	defer cancel()
	reader, err := s.events.Open(rctx)
	if err != nil {
		return nil, err
	}
	n, err := reader.Replay(rctx, func(ev command.Event) {
		// Not live yet: applying decides nothing and cannot fail.
		_ = s.app.OnEvent(ctx, ev)
	})
	if err != nil {
		reader.Close()
		return nil, err
	}
	s.log.Info("event log replayed", "events", n, "up_to_seq", reader.Target(), "took", time.Since(start).Round(time.Millisecond))
	if err := s.app.Recover(ctx); err != nil {
		// The periodic retry takes it up; the state itself is complete.
		s.log.Warn("could not finish the decisions left undone; will retry", "error", err)
	}
	return reader, nil
}
