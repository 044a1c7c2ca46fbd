// Package service wires the safety-guard service: it answers
// phantom.rpc.guard.check (core NATS request/reply in the queue group
// safety-guard, so any number of replicas share the load) with the policy
// engine's decision, and appends every decision about a run as
// run.policy_audit.
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
	"time"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/safety-guard/internal/ports"
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

// Validate reports the first setting out of range, naming its variable.
func (c Config) Validate() error {
	if _, err := policy.ParseMode(c.Mode); err != nil {
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
	handler *ports.Handler
	env     daemon.Env
}

// New checks the settings, loads the custom rules and builds the service.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	if cfg.Mode == "" {
		cfg.Mode = "default"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = policy.DefaultTimeout
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mode, _ := policy.ParseMode(cfg.Mode)
	var rules []policy.CustomRule
	if cfg.RulesFile != "" {
		var err error
		if rules, err = policy.LoadRuleFiles(cfg.RulesFile, ""); err != nil {
			return nil, fmt.Errorf("could not load PHANTOM_GUARD_RULES_FILE: %w", err)
		}
	}
	if env.Conn == nil {
		return nil, errors.New("safety-guard needs a NATS connection")
	}
	h, err := ports.NewHandler(ports.Deps{
		Engine:    policy.New(policy.WithTimeout(cfg.Timeout)),
		Mode:      mode,
		Rules:     rules,
		Publisher: env.Publisher(),
		Logger:    env.Logger,
		Metrics:   env.Metrics,
	})
	if err != nil {
		return nil, err
	}
	return &Service{handler: h, env: env}, nil
}

// Run answers requests until ctx ends, then drains the subscription.
func (s *Service) Run(ctx context.Context) error {
	return s.handler.Serve(ctx, s.env.Conn)
}
