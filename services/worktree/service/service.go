// Package service wires the worktree service: it answers
// phantom.rpc.worktree.<host>.prepare and .remove for the runners of its
// host, giving each run its working directory (a git worktree on branch
// phantom/<run id>, or the workspace itself), enforcing the workspace grants,
// and appending run.worktree_prepared. It shares the runner's disk, so one
// runs on every runner machine with the same PHANTOM_HOST. Every git command
// it runs is first judged by the safety guard (phantom.rpc.guard.check).
package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/datadir"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/worktree/internal/adapters/gitcli"
	"github.com/phantom-run/phantom/services/worktree/internal/adapters/guardedgit"
	"github.com/phantom-run/phantom/services/worktree/internal/app/command"
	"github.com/phantom-run/phantom/services/worktree/internal/ports/natsin"
)

// Config is the worktree service's configuration (PHANTOM_* variables).
type Config struct {
	Host           string        `envconfig:"HOST" desc:"this machine's name in subjects, shared with its runner (default: the hostname, sanitized)"`
	WorkspaceRoots []string      `envconfig:"WORKSPACE_ROOTS" desc:"comma-separated absolute directories runs may work in (symlinks resolved); empty allows any directory"`
	DataDir        string        `envconfig:"DATA_DIR" desc:"Phantom's data directory (default: ~/.local/share/phantom, $XDG_DATA_HOME/phantom when set, /var/lib/phantom as root)"`
	WorktreeDir    string        `envconfig:"WORKTREE_DIR" desc:"where run worktrees are created (default: $PHANTOM_DATA_DIR/worktrees)"`
	GitTimeout     time.Duration `envconfig:"WORKTREE_GIT_TIMEOUT" default:"2m" desc:"bound on each git command"`
	Concurrency    int           `envconfig:"WORKTREE_CONCURRENCY" default:"8" desc:"requests answered at once (1..256)"`
}

// DefaultConfig is the configuration with every default the tags give
// (Host, DataDir and WorktreeDir are worked out on the machine).
func DefaultConfig() Config {
	return Config{GitTimeout: 2 * time.Minute, Concurrency: 8}
}

// withDefaults fills what an embedding host left empty: the defaults of
// DefaultConfig, this machine's host token, and the data dir by
// pkg/datadir's rule (the one phantom up and the CLI follow).
func (c Config) withDefaults() (Config, error) {
	def := DefaultConfig()
	if c.Host == "" {
		c.Host = daemon.HostToken()
	}
	if c.DataDir == "" {
		d, err := datadir.Resolve(os.Getenv)
		if err != nil {
			return c, err
		}
		c.DataDir = d
	}
	if c.WorktreeDir == "" {
		c.WorktreeDir = filepath.Join(c.DataDir, "worktrees")
	}
	if c.GitTimeout == 0 {
		c.GitTimeout = def.GitTimeout
	}
	if c.Concurrency == 0 {
		c.Concurrency = def.Concurrency
	}
	if c.GitTimeout < time.Second || c.GitTimeout > time.Hour {
		return c, fmt.Errorf("PHANTOM_WORKTREE_GIT_TIMEOUT %s must be in 1s..1h", c.GitTimeout)
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		return c, fmt.Errorf("PHANTOM_WORKTREE_CONCURRENCY %d must be in 1..256", c.Concurrency)
	}
	return c, nil
}

// Service is a running worktree service.
type Service struct {
	env       daemon.Env
	worktrees *command.Worktrees
	server    *natsin.Server
}

// New checks the configuration, creates the worktree directory and returns
// the service. Nothing is subscribed until Run.
func New(_ context.Context, cfg Config, env daemon.Env) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	// Phantom's own git commands pass the safety guard like an agent's; one
	// the guard cannot be asked about does not run.
	git := guardedgit.NewFromProcess(gitcli.New(cfg.GitTimeout), guardclient.New(env.Conn))
	w, err := command.New(git, env.Publisher(), env.Logger,
		command.Options{Host: cfg.Host, Roots: cfg.WorkspaceRoots, Dir: cfg.WorktreeDir})
	if err != nil {
		return nil, err
	}
	srv, err := natsin.New(env.Conn, cfg.Host, w, env.Logger, cfg.Concurrency, env.Metrics)
	if err != nil {
		return nil, err
	}
	if env.Checks != nil {
		env.Checks.Add("worktree", func(context.Context) error { return srv.Ready() })
	}
	return &Service{env: env, worktrees: w, server: srv}, nil
}

// Run reconciles git's worktree records with the disk, then answers requests
// until ctx ends; it returns nil after the requests in progress are answered.
func (s *Service) Run(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	repos := s.worktrees.Reconcile(rctx)
	cancel()
	s.env.Logger.Info("worktree service ready", "dir", s.worktrees.Dir(), "repos", len(repos))
	return s.server.Run(ctx)
}
