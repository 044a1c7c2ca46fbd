// Package service is the projector: it keeps Phantom's Postgres read models
// (runs, run_events, and every projection listed in internal/projections) up
// to date from the PHANTOM_EVENTS stream, and rebuilds any of them from
// sequence 1 on demand.
//
// Each projection has its own durable consumer projector-<name> and its row
// in projection_checkpoints, written in the same transaction as the rows, so
// a crash neither loses nor repeats an event. One instance is active per
// projection (a Postgres advisory lock); others stand by and take over when
// it goes away.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
	"github.com/phantom-run/phantom/services/projector/internal/projections"
)

// Config is the projector's configuration (environment variables PHANTOM_*).
type Config struct {
	// Batch is the most events applied in one transaction.
	Batch int `envconfig:"PROJECTOR_BATCH" default:"1000" desc:"most events applied in one Postgres transaction (1-10000)"`
	// MaxWait bounds how long a batch waits to fill once it has an event.
	MaxWait time.Duration `envconfig:"PROJECTOR_MAX_WAIT" default:"50ms" desc:"longest a batch waits to fill after its first event (1ms-10s)"`
	// Linger closes a batch early when events stop coming.
	Linger time.Duration `envconfig:"PROJECTOR_LINGER" default:"2ms" desc:"a batch closes when no event arrived for this long (100us-MAX_WAIT)"`
	// Projections restricts this instance to some projections (to spread them over instances).
	Projections []string `envconfig:"PROJECTOR_PROJECTIONS" desc:"comma-separated projections this instance runs (default: all)"`
	// SynchronousCommit makes every batch wait for its WAL flush (see engine.Options).
	SynchronousCommit bool `envconfig:"PROJECTOR_SYNCHRONOUS_COMMIT" default:"false" desc:"wait for the WAL flush of each batch; off is safe (a Postgres crash only makes the projector re-apply the last batches from the recovered checkpoint) and faster"`
	// StandbyRetry is how often a standby instance tries to take over.
	StandbyRetry time.Duration `envconfig:"PROJECTOR_STANDBY_RETRY" default:"2s" desc:"how often a standby instance tries to become active (100ms-1m)"`
}

// Validate checks every field; the error names the variable and its range.
func (c Config) Validate() error {
	var errs []error
	if c.Batch < 1 || c.Batch > 10000 {
		errs = append(errs, fmt.Errorf("PHANTOM_PROJECTOR_BATCH is %d, must be in 1..=10000", c.Batch))
	}
	if c.MaxWait < time.Millisecond || c.MaxWait > 10*time.Second {
		errs = append(errs, fmt.Errorf("PHANTOM_PROJECTOR_MAX_WAIT is %s, must be in 1ms..=10s", c.MaxWait))
	}
	if c.Linger < 100*time.Microsecond || c.Linger > c.MaxWait {
		errs = append(errs, fmt.Errorf("PHANTOM_PROJECTOR_LINGER is %s, must be in 100us..=PHANTOM_PROJECTOR_MAX_WAIT (%s)", c.Linger, c.MaxWait))
	}
	if c.StandbyRetry < 100*time.Millisecond || c.StandbyRetry > time.Minute {
		errs = append(errs, fmt.Errorf("PHANTOM_PROJECTOR_STANDBY_RETRY is %s, must be in 100ms..=1m", c.StandbyRetry))
	}
	for _, p := range c.Projections {
		if !slices.Contains(Projections(), strings.TrimSpace(p)) {
			errs = append(errs, fmt.Errorf("PHANTOM_PROJECTOR_PROJECTIONS names %q, must be among %s", p, strings.Join(Projections(), ", ")))
		}
	}
	return errors.Join(errs...)
}

// DefaultConfig is the configuration with every default applied.
func DefaultConfig() Config {
	return Config{Batch: 1000, MaxWait: 50 * time.Millisecond, Linger: 2 * time.Millisecond, StandbyRetry: 2 * time.Second}
}

// Projections returns the names of every projection, in start order.
func Projections() []string {
	all := projections.All()
	out := make([]string, len(all))
	for i, p := range all {
		out[i] = p.Name()
	}
	return out
}

// Service is the projector.
type Service struct {
	cfg  Config
	log  *slog.Logger
	db   *pgxpool.Pool
	js   jetstream.JetStream
	eng  *engine.Engine
	m    *engine.Metrics
	all  map[string]engine.Projection
	mine []engine.Projection
	// workers are those of the current active term; nil while standing by.
	workers atomic.Pointer[[]*engine.Worker]
	active  atomic.Bool
}

// New checks cfg and builds the projector over env's Postgres and JetStream.
// It does not touch the read models: Run projects, Rebuild resets.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.DB == nil {
		return nil, errors.New("the projector needs Postgres: PHANTOM_DATABASE_URL")
	}
	if env.JS == nil {
		return nil, errors.New("the projector needs JetStream")
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := engine.NewMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Service{
		cfg: cfg,
		log: log,
		db:  env.DB,
		js:  env.JS,
		m:   m,
		all: map[string]engine.Projection{},
	}
	s.eng = engine.New(env.DB, env.JS, log, m, engine.Options{Batch: cfg.Batch, MaxWait: cfg.MaxWait, Linger: cfg.Linger, SynchronousCommit: cfg.SynchronousCommit})
	for _, p := range projections.All() {
		s.all[p.Name()] = p
		if len(cfg.Projections) == 0 || slices.ContainsFunc(cfg.Projections, func(n string) bool { return strings.TrimSpace(n) == p.Name() }) {
			s.mine = append(s.mine, p)
		}
	}
	if env.Checks != nil {
		env.Checks.Add("projector", s.ready)
	}
	return s, nil
}

// ready: a standby instance is ready; an active one when every projection is
// positioned and applying.
func (s *Service) ready(context.Context) error {
	ws := s.workers.Load()
	if ws == nil {
		return nil
	}
	var errs []error
	for _, w := range *ws {
		errs = append(errs, w.Healthy())
	}
	return errors.Join(errs...)
}

// Active reports whether this instance runs its projections now (rather
// than standing by).
func (s *Service) Active() bool { return s.active.Load() }

// Run projects until ctx ends, then returns nil. While another instance
// holds the projections, it stands by and retries every StandbyRetry.
func (s *Service) Run(ctx context.Context) error {
	names := make([]string, len(s.mine))
	for i, p := range s.mine {
		names[i] = p.Name()
		s.m.SetActive(p.Name(), false)
	}
	waiting := false
	for {
		lock, err := engine.TryLock(ctx, s.db, names)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
			s.log.Warn("could not contend for the projections; retrying", "error", err)
		case lock == nil:
			if !waiting {
				s.log.Info("another instance runs the projections; standing by", "projections", names)
				waiting = true
			}
		default:
			waiting = false
			err := s.term(ctx, lock)
			lock.Release()
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("stopped projecting; contending again", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(s.cfg.StandbyRetry):
		}
	}
}

// term runs every projection while lock is held.
func (s *Service) term(ctx context.Context, lock *engine.Lock) error {
	workers := make([]*engine.Worker, len(s.mine))
	for i, p := range s.mine {
		workers[i] = s.eng.Worker(p)
		s.m.SetActive(p.Name(), true)
	}
	s.workers.Store(&workers)
	s.active.Store(true)
	s.log.Info("projecting", "projections", len(workers))
	defer func() {
		s.active.Store(false)
		s.workers.Store(nil)
		for _, p := range s.mine {
			s.m.SetActive(p.Name(), false)
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return lock.Hold(gctx, 2*time.Second) })
	for _, w := range workers {
		g.Go(func() error { return w.Run(gctx) })
	}
	g.Go(func() error { return s.watchLag(gctx, workers) })
	err := g.Wait()
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// watchLag updates the lag gauges from the stream's last sequence.
func (s *Service) watchLag(ctx context.Context, workers []*engine.Worker) error {
	return daemon.Every(ctx, 5*time.Second, func(ctx context.Context) error {
		last, err := s.streamLast(ctx)
		if err != nil {
			s.log.Debug("could not read the stream's last sequence", "error", err)
			return nil
		}
		for _, w := range workers {
			cp := w.Checkpoint()
			lag := uint64(0)
			if last > cp {
				lag = last - cp
			}
			s.m.SetLag(w.Name(), lag)
		}
		return nil
	})
}

func (s *Service) streamLast(ctx context.Context) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, streams.Events)
	if err != nil {
		return 0, fmt.Errorf("could not look up stream %s: %w", streams.Events, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("could not read stream %s: %w", streams.Events, err)
	}
	return info.State.LastSeq, nil
}

// Rebuild resets one projection: its tables are truncated, its checkpoint
// and recorded errors deleted (one transaction), and its consumer recreated
// at sequence 1. It returns once the reset is done; the active projector
// (this one or another instance) then replays the stream into the empty
// tables. Readers see empty or partial tables until the replay catches up
// (Status tells). An unknown name changes nothing.
func (s *Service) Rebuild(ctx context.Context, projection string) error {
	p, ok := s.all[projection]
	if !ok {
		return fmt.Errorf("projection %q does not exist; projections are %s", projection, strings.Join(Projections(), ", "))
	}
	return s.eng.Reset(ctx, p)
}

// Status is where one projection stands.
type Status struct {
	Projection string `json:"projection"`
	// Checkpoint is the last stream sequence applied (0: none).
	Checkpoint uint64 `json:"checkpoint"`
	// StreamLast is the last sequence of PHANTOM_EVENTS.
	StreamLast uint64 `json:"streamLast"`
	// Pending counts the events of the projection's subjects its consumer
	// has not delivered yet, plus those delivered and not yet acknowledged.
	Pending uint64 `json:"pending"`
	// CaughtUp is true when nothing is pending.
	CaughtUp bool `json:"caughtUp"`
}

// Status returns where every projection stands, from Postgres and JetStream.
func (s *Service) Status(ctx context.Context) ([]Status, error) {
	last, err := s.streamLast(ctx)
	if err != nil {
		return nil, err
	}
	var out []Status
	for _, p := range projections.All() {
		cp, err := s.eng.Checkpoint(ctx, p.Name())
		if err != nil {
			return nil, err
		}
		st := Status{Projection: p.Name(), Checkpoint: cp, StreamLast: last}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := s.js.Consumer(cctx, streams.Events, engine.ConsumerName(p))
		if err == nil {
			var info *jetstream.ConsumerInfo
			info, err = c.Info(cctx)
			if err == nil {
				st.Pending = info.NumPending + uint64(info.NumAckPending)
			}
		}
		cancel()
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			// Never started: everything of its subjects is pending; say so
			// roughly with the stream's distance.
			st.Pending = last - min(cp, last)
		case err != nil:
			return nil, fmt.Errorf("could not read consumer %s: %w", engine.ConsumerName(p), err)
		}
		st.CaughtUp = st.Pending == 0
		out = append(out, st)
	}
	return out, nil
}
