// Package service wires the safety-guard service: it answers
// phantom.rpc.guard.check (core NATS request/reply in the queue group
// safety-guard, so any number of replicas share the load) with the policy
// engine's decision, and appends every decision about a run as
// run.policy_audit.
//
// The policy a command is judged under is chosen per request: the
// service's own settings (PHANTOM_GUARD_MODE, PHANTOM_GUARD_RULES_FILE),
// then the guard policies configured for all runs, for the run's workspace
// and for its profile (guard_policy.* events, kept in memory from the event
// log; a run's workspace and profile come from its run.requested event),
// then the rule files the requester sent (the user's and the project's
// .safety-net.json), then the request's own mode.
//
// The reply is sent before the audit is appended: the agent waits on the
// reply, and the audit's publisher retries on its own. A decision is never
// delayed by the event log.
package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/safety-guard/internal/policies"
	"github.com/phantom-run/phantom/services/safety-guard/internal/ports"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// Config is the safety-guard's settings.
type Config struct {
	// Mode is the policy mode used when a request names none.
	Mode string `envconfig:"GUARD_MODE" default:"default" desc:"policy mode when a request names none: default, strict, paranoid, paranoid_rm, paranoid_interpreters, worktree, or a + combination"`
	// RulesFile is the user's custom rules in the upstream .safety-net.json format.
	RulesFile string `envconfig:"GUARD_RULES_FILE" desc:"custom rules in the .safety-net.json format, applied to every request (optional)"`
	// Timeout bounds one decision; past it the command is blocked.
	Timeout time.Duration `envconfig:"GUARD_TIMEOUT" default:"10ms" desc:"longest time one decision may take; a slower one is a block (1ms..=1s)"`
}

// DefaultConfig is the configuration the variables' defaults give (the
// tags say the same, and a test holds them together). New takes a field
// left zero from it.
func DefaultConfig() Config {
	return Config{Mode: guard.ModeDefault.String(), Timeout: policy.DefaultTimeout}
}

// Validate reports the first setting out of range, naming its variable.
func (c Config) Validate() error {
	if _, err := guard.ParseMode(c.Mode); err != nil {
		return fmt.Errorf("PHANTOM_GUARD_MODE: %w", err)
	}
	if c.Timeout < time.Millisecond || c.Timeout > time.Second {
		return fmt.Errorf("PHANTOM_GUARD_TIMEOUT %s must be in 1ms..=1s", c.Timeout)
	}
	if c.RulesFile != "" && !filepath.IsAbs(c.RulesFile) {
		return fmt.Errorf("PHANTOM_GUARD_RULES_FILE %q must be an absolute path", c.RulesFile)
	}
	return nil
}

// Service is a running safety-guard.
type Service struct {
	handler  *ports.Handler
	store    *policies.Store
	env      daemon.Env
	loaded   chan struct{}
	answered atomic.Bool
}

// New checks the settings, loads the custom rules and builds the service.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	def := DefaultConfig()
	if cfg.Mode == "" {
		cfg.Mode = def.Mode
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = def.Timeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mode, _ := guard.ParseMode(cfg.Mode)
	var base []judge.Layer
	if cfg.RulesFile != "" {
		rules, err := policy.LoadRuleFiles(cfg.RulesFile, "")
		if err != nil {
			return nil, fmt.Errorf("could not load PHANTOM_GUARD_RULES_FILE: %w", err)
		}
		l := judge.Layer{Name: "rules:" + cfg.RulesFile}
		for _, r := range rules {
			l.Policy.Rules = append(l.Policy.Rules, events.GuardRule(r))
		}
		base = append(base, l)
	}
	if env.Conn == nil || env.JS == nil {
		return nil, errors.New("safety-guard needs a NATS connection and JetStream")
	}
	store := policies.NewStore()
	h, err := ports.NewHandler(ports.Deps{
		Engine:    policy.New(policy.WithTimeout(cfg.Timeout)),
		Mode:      mode,
		Base:      base,
		Policies:  store,
		Runs:      policies.NewRuns(env.JS, lookupTimeout),
		Publisher: env.Publisher(),
		Logger:    env.Logger,
		Metrics:   env.Metrics,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{handler: h, store: store, env: env, loaded: make(chan struct{})}
	if env.Checks != nil {
		env.Checks.Add("safety-guard", func(context.Context) error {
			if !s.answered.Load() {
				return errors.New("the guard policies are still being loaded from the event log")
			}
			return nil
		})
	}
	return s, nil
}

// lookupTimeout bounds the read of a run's request from the event log.
const lookupTimeout = time.Second

// Run loads the guard policies from the event log, then answers requests
// (keeping the policies current) until ctx ends, then drains.
func (s *Service) Run(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return policies.Follow(gctx, s.env.JS, s.store, s.env.Logger, s.loaded) })
	g.Go(func() error {
		// No command is judged before the configured policies are known:
		// judging without them could allow what they block.
		select {
		case <-s.loaded:
		case <-gctx.Done():
			return nil
		}
		s.answered.Store(true)
		return s.handler.Serve(gctx, s.env.Conn)
	})
	return g.Wait()
}
