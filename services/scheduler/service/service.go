package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/scheduler/internal/adapters/metrics"
	"github.com/phantom-run/phantom/services/scheduler/internal/adapters/natsout"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
	"github.com/phantom-run/phantom/services/scheduler/internal/ports/natsin"
)

// Name is the service's name (its ce-source is phantom/scheduler/<instance>).
const Name = "scheduler"

// ConsumerName is the durable consumer of the scheduler's commands on
// PHANTOM_COMMANDS, filtered on phantom.cmd.scheduler.>.
const ConsumerName = "scheduler-commands"

// resendMargin keeps the resend window of dispatch messages safely inside
// the stream's duplicate window, clocks and publish retries included.
const resendMargin = 30 * time.Second

// errLeaseLost ends a term of leadership.
var errLeaseLost = errors.New("the lease was lost")

// Service is a running scheduler: one instance, active or standing by.
type Service struct {
	cfg     Config
	env     daemon.Env
	log     *slog.Logger
	limits  queue.Limits
	metrics *metrics.Metrics
	outbox  *natsout.Outbox
	events  *natsout.EventLog
	// ready: the queue is rebuilt (the instance leads or stands by).
	ready atomic.Bool
	// leading: this instance holds the lease and decides.
	leading atomic.Bool
	// app is the current term's scheduler (replaced at every rebuild).
	app atomic.Pointer[command.Scheduler]
}

var _ daemon.Service = (*Service)(nil)

// New builds the scheduler from cfg and the host's env. It does no I/O
// besides creating its publisher; Run rebuilds the queue and campaigns for
// the lease.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limits, err := cfg.limits()
	if err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if env.JS == nil || env.Conn == nil || env.Metrics == nil {
		return nil, errors.New("the scheduler needs a NATS connection, a JetStream context and a metrics registerer in its env")
	}
	collectors, err := metrics.NewMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	outbox, err := natsout.NewOutbox(env.Conn, env.Publisher(), cfg.PublishTimeout)
	if err != nil {
		return nil, err
	}
	s := &Service{cfg: cfg, env: env, log: log, limits: limits, metrics: collectors, outbox: outbox, events: natsout.NewEventLog(env.JS, log)}
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

// Leading reports whether this instance is the active scheduler.
func (s *Service) Leading() bool { return s.leading.Load() }

// Snapshot is the queue's state in this instance (for tests and tools).
func (s *Service) Snapshot() (queue.Snapshot, bool) {
	app := s.app.Load()
	if app == nil {
		return queue.Snapshot{}, false
	}
	return app.Snapshot(), true
}

// Run works until ctx ends and returns nil after draining. Each term
// rebuilds the queue from the event log, follows the log while standing by,
// and decides while this instance holds the lease; a term that loses the
// lease (or whose decisions could not be published) ends, and the next one
// starts from a fresh rebuild.
func (s *Service) Run(ctx context.Context) error {
	defer s.ready.Store(false)
	lease, err := natsout.OpenLease(ctx, s.env.JS, s.env.Instance)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	for {
		err := s.term(ctx, lease)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, errLeaseLost) || errors.Is(err, command.ErrStateSuspect) {
			s.log.Warn("stepping down; rebuilding the queue from the event log", "reason", err)
			continue
		}
		return err
	}
}

// term is one rebuild and what follows it: standing by, then leading.
func (s *Service) term(ctx context.Context, lease *natsout.Lease) error {
	s.ready.Store(false)
	app, err := command.New(command.Config{
		Limits: s.limits, Policy: s.cfg.policy(),
		ResendWindow: streams.DuplicateWindow - resendMargin,
		Heartbeat:    s.cfg.RunnerHeartbeat,
		Instance:     s.env.Instance,
		Leading:      lease.Fresh,
	}, s.outbox, s.metrics, s.log)
	if err != nil {
		return err
	}
	reader, err := s.rebuild(ctx, app)
	if err != nil {
		return err
	}
	defer reader.Close()
	s.app.Store(app)
	s.ready.Store(true)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return reader.Tail(gctx, func(_ context.Context, ev command.Event) error {
			app.ApplyEvent(ev)
			return nil
		}, app)
	})
	g.Go(func() error {
		defer s.leading.Store(false)
		defer s.metrics.Leader(false)
		if err := s.campaign(gctx, lease); err != nil || gctx.Err() != nil {
			return err
		}
		err := s.lead(gctx, app, lease, reader)
		app.StepDown()
		if gctx.Err() != nil && !errors.Is(err, errLeaseLost) {
			// Shutting down: hand the lease over at once.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), lease.TTL()/2)
			defer cancel()
			if rerr := lease.Release(rctx); rerr != nil {
				s.log.Warn("could not release the lease; a standby takes over when it expires", "error", rerr)
			}
			return nil
		}
		lease.Drop()
		if err == nil {
			err = errLeaseLost
		}
		return err
	})
	return g.Wait()
}

// rebuild replays the event log into app.
func (s *Service) rebuild(ctx context.Context, app *command.Scheduler) (*natsout.Reader, error) {
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, s.cfg.ReplayTimeout)
	defer cancel()
	reader, err := s.events.Open(rctx)
	if err != nil {
		return nil, err
	}
	n, err := reader.Replay(rctx, func(ev command.Event) {
		// Not live yet: applying decides nothing and cannot fail.
		_ = app.OnEvent(ctx, ev)
	}, app)
	if err != nil {
		reader.Close()
		return nil, err
	}
	snap := app.Snapshot()
	s.log.Info("queue rebuilt from the event log", "events", n, "up_to_seq", reader.Target(),
		"queued", len(snap.Queued), "active", len(snap.Active), "retrying", len(snap.Retrying),
		"took", time.Since(start).Round(time.Millisecond))
	return reader, nil
}

// campaign waits until this instance holds the lease.
func (s *Service) campaign(ctx context.Context, lease *natsout.Lease) error {
	poll := lease.TTL() / 3
	logged := false
	for {
		ok, err := lease.Acquire(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("could not campaign for the lease", "error", err)
		}
		if ok {
			break
		}
		if !logged {
			holder, _ := lease.Holder(ctx)
			s.log.Info("standing by: another scheduler is active", "active", holder)
			logged = true
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
	return nil
}

// lead decides until ctx ends or the lease is lost: it renews the lease,
// reads the log up to where it ended when the lease was taken (a new leader
// decides on everything the old one recorded), then consumes the commands,
// wakes for the decisions time makes due, watches runner heartbeats and
// answers queue requests.
func (s *Service) lead(ctx context.Context, app *command.Scheduler, lease *natsout.Lease, reader *natsout.Reader) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.renew(gctx, lease) })
	g.Go(func() error {
		if err := s.catchUp(gctx, reader); err != nil || gctx.Err() != nil {
			return err
		}
		return s.decide(gctx, app, lease)
	})
	return g.Wait()
}

// catchUp waits until the tail has read everything the log holds now.
func (s *Service) catchUp(ctx context.Context, reader *natsout.Reader) error {
	target, err := s.events.LastSeq(ctx)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(s.cfg.ReplayTimeout)
	for reader.Position() < target {
		if time.Now().After(deadline) {
			return fmt.Errorf("the event log was not read up to sequence %d within %s", target, s.cfg.ReplayTimeout)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}

// decide runs the active scheduler's work until ctx ends.
func (s *Service) decide(ctx context.Context, app *command.Scheduler, lease *natsout.Lease) error {
	s.leading.Store(true)
	s.metrics.Leader(true)
	s.log.Info("active: this scheduler decides", "instance", s.env.Instance, "lease_ttl", lease.TTL())
	if err := app.Recover(ctx); err != nil {
		if errors.Is(err, command.ErrStateSuspect) {
			return err
		}
		// The periodic retry takes it up; the state itself is complete.
		s.log.Warn("could not finish the decisions left undone; will retry", "error", err)
	}
	cons, err := bus.EnsureConsumer(ctx, s.env.JS, streams.Commands, jetstream.ConsumerConfig{
		Durable:       ConsumerName,
		Description:   "The scheduler's commands: submit_run, cancel_run (pulled by the active scheduler).",
		FilterSubject: subjects.ServiceCommands(commands.ServiceScheduler),
		AckWait:       s.cfg.CommandAckWait,
		MaxAckPending: 4 * natsin.MaxBatch,
	})
	if err != nil {
		return fmt.Errorf("could not subscribe to the scheduler's commands: %w", err)
	}
	rpcSub, err := natsin.ServeQueue(s.env.Conn, app, s.log)
	if err != nil {
		return err
	}
	defer func() { _ = rpcSub.Unsubscribe() }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return natsin.ConsumeCommands(gctx, cons, app, s.cfg.CommandRetryDelay, s.log) })
	g.Go(func() error { return s.wakeLoop(gctx, app) })
	g.Go(func() error {
		for gctx.Err() == nil {
			if err := natsout.WatchRunners(gctx, s.env.JS, app, s.log); err != nil && gctx.Err() == nil {
				s.log.Warn("watching runner heartbeats failed; watching again", "error", err)
				select {
				case <-gctx.Done():
				case <-time.After(s.cfg.RetryInterval):
				}
			}
		}
		return nil
	})
	return g.Wait()
}

// renew keeps the lease until ctx ends; errLeaseLost when it cannot.
func (s *Service) renew(ctx context.Context, lease *natsout.Lease) error {
	return daemon.Every(ctx, lease.TTL()/3, func(ctx context.Context) error {
		err := lease.Renew(ctx)
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, natsout.ErrLeaseLost):
			return fmt.Errorf("%w: %v", errLeaseLost, err)
		case !lease.Fresh():
			// Renewals keep failing: another instance may take the key once it
			// expires, so this one stops deciding now.
			return fmt.Errorf("%w: %v", errLeaseLost, err)
		default:
			s.log.Warn("could not renew the lease; retrying", "error", err)
		}
		return nil
	})
}

// wakeLoop ticks the scheduler when a decision becomes due by itself, and
// at least every RetryInterval to retry what failed.
func (s *Service) wakeLoop(ctx context.Context, app *command.Scheduler) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-app.Wake():
			// Events were applied or commands handled: decide what is due.
			if err := app.Decide(ctx); err != nil && ctx.Err() == nil {
				if errors.Is(err, command.ErrStateSuspect) {
					return err
				}
				if !errors.Is(err, command.ErrNotLeader) {
					s.log.Warn("decisions could not be published; will retry", "error", err)
				}
			}
		case <-timer.C:
			err := app.Tick(ctx)
			switch {
			case err == nil, errors.Is(err, command.ErrNotLeader), ctx.Err() != nil:
			case errors.Is(err, command.ErrStateSuspect):
				return err
			default:
				s.log.Warn("decisions due could not be published; will retry", "error", err)
			}
		}
		wait := s.cfg.RetryInterval
		if next := app.NextWake(); !next.IsZero() {
			wait = min(wait, max(time.Until(next), 0))
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}
