// Package service wires the runner: it registers the runner in the
// phantom_runners bucket (heartbeat), pulls dispatches of its pool through
// the pool's shared consumer while it has a free slot, asks its host's
// worktree service for each attempt's directory, spawns the agent from a
// launch template in a process group of its own, streams its output as
// batched chunk events, and records how it ended. It stops an attempt on a
// cancel command or at its deadline, and on shutdown drains: running agents
// get PHANTOM_RUNNER_DRAIN_TIMEOUT to finish, then are stopped and handed
// back (run.failed runner_lost, retryable while retries are left).
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/eventlog"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/guardrelay"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/natsio"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/privatedir"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/process"
	"github.com/phantom-run/phantom/services/runner/internal/app/command"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/pricing"
	"github.com/phantom-run/phantom/services/runner/internal/ports/natsin"
)

// Service is a runner.
type Service struct {
	cfg      Config
	env      daemon.Env
	id       string
	pub      *bus.Publisher
	registry *natsio.Registry
	dispatch jetstream.Consumer
	metrics  *command.Metrics
	rcfg     command.Config
	detector *command.Detector
	log      *slog.Logger
	started  time.Time
}

// New checks the configuration, creates the runner's consumers and opens
// its registry entry. The runner's id is env.Instance.
func New(ctx context.Context, cfg Config, env daemon.Env) (*Service, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := subjects.CheckToken("runner id", env.Instance); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("could not find this executable (the fake agent): %w", err)
	}
	var agentsDoc []byte
	if cfg.AgentsFile != "" {
		if agentsDoc, err = os.ReadFile(cfg.AgentsFile); err != nil {
			return nil, fmt.Errorf("PHANTOM_AGENTS_FILE: could not read %s: %w", cfg.AgentsFile, err)
		}
	}
	defs, err := agents.Load(cmpOr(cfg.AgentsFile, "agents.toml"), agentsDoc)
	if err != nil {
		return nil, err
	}
	var pricesDoc []byte
	if cfg.PricesFile != "" {
		if pricesDoc, err = os.ReadFile(cfg.PricesFile); err != nil {
			return nil, fmt.Errorf("PHANTOM_RUNNER_PRICES_FILE: could not read %s: %w", cfg.PricesFile, err)
		}
	}
	prices, err := pricing.Load(cmpOr(cfg.PricesFile, "prices.toml"), pricesDoc)
	if err != nil {
		return nil, err
	}
	registry, err := natsio.OpenRegistry(ctx, env.JS, streams.RunnerEntry{RunnerID: env.Instance, Host: cfg.Host,
		Pool: cfg.Pool, Slots: cfg.Slots, Version: version(), Started: time.Now().UTC(), HeartbeatMs: cfg.Heartbeat.Milliseconds()})
	if err != nil {
		return nil, err
	}
	if ttl, err := bucketTTL(ctx, env.JS); err == nil && ttl > 0 && cfg.Heartbeat >= ttl {
		return nil, fmt.Errorf("PHANTOM_RUNNER_HEARTBEAT %s must be shorter than the %s bucket's TTL %s", cfg.Heartbeat, streams.RunnersBucket, ttl)
	}
	dispatch, err := natsin.EnsureDispatchConsumer(ctx, env.JS, streams.Dispatch, cfg.Pool)
	if err != nil {
		return nil, err
	}
	// Created here so that a runner that cannot receive commands fails to
	// start; the command router subscribes to the same consumer in Run.
	if _, err := natsin.EnsureCommandConsumer(ctx, env.JS, streams.Commands, env.Instance, cfg.CommandsInactive); err != nil {
		return nil, err
	}
	metrics, err := command.NewMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	environ := os.Environ()
	red := redact.New(redact.SecretEnv(environ)...)
	// The runner's own logs are redacted too (argv, stderr lines, messages).
	log := slog.New(redact.NewHandler(env.Logger.Handler(), red))
	s := &Service{cfg: cfg, env: env, id: env.Instance, pub: env.Publisher(), registry: registry,
		dispatch: dispatch, metrics: metrics, log: log}
	s.rcfg = command.Config{
		RunnerID: env.Instance, Host: cfg.Host, Slots: cfg.Slots,
		ChunkBytes: cfg.ChunkBytes, MaxLineBytes: cfg.MaxLineBytes, ChunkInterval: cfg.ChunkInterval,
		KillGrace: cfg.KillGrace, PrepareTimeout: cfg.PrepareTimeout, ProgressEvery: natsin.DispatchAckWait / 3,
		SelfPath: self, FakeCommand: cfg.FakeAgentCommand, Agents: defs,
		Environ: environ, Prices: prices, Redact: redactor{red}, Root: os.Geteuid() == 0, SpawnRetries: cfg.SpawnRetries,
		GuardTimeout: cfg.GuardTimeout,
	}
	if cfg.GuardHook {
		s.rcfg.GuardHook = cfg.GuardHookCommand
		if s.rcfg.GuardHook == "" {
			s.rcfg.GuardHook = HookCommand(self)
		}
	}
	s.detector = command.NewDetector(s.rcfg, process.Probe{}, 15*time.Second)
	return s, nil
}

// HookCommand is the PreToolUse hook command line for an executable:
// '<path>' guard hook, the path quoted for the shell Claude Code runs it with.
func HookCommand(executable string) string {
	return "'" + strings.ReplaceAll(executable, "'", `'\''`) + "' guard hook"
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ID is the runner's id (its key in phantom_runners, its commands' subject token).
func (s *Service) ID() string { return s.id }

func bucketTTL(ctx context.Context, js jetstream.JetStream) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, streams.RunnersBucket)
	if err != nil {
		return 0, err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.TTL(), nil
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

// handler adapts the runner and the detection loop to the command consumer.
type handler struct {
	*command.Runner
	detect chan struct{}
}

// Detect asks the detection loop for a new detection (without waiting).
func (h handler) Detect(commands.RunnerDetect) {
	select {
	case h.detect <- struct{}{}:
	default:
	}
}

// Detect detects the agent CLIs now and publishes runner.capabilities.
func (s *Service) Detect(ctx context.Context) ([]events.AgentCapability, error) {
	caps := s.detector.Detect(ctx)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := s.pub.Event(pctx, events.RunnerCapabilities{RunnerID: s.id, Host: s.cfg.Host, Agents: caps}); err != nil {
		return caps, fmt.Errorf("could not publish runner.capabilities: %w", err)
	}
	return caps, nil
}

// detectLoop detects at start, every DetectInterval and when asked.
func (s *Service) detectLoop(ctx context.Context, asked <-chan struct{}, log *slog.Logger) {
	t := time.NewTicker(s.cfg.DetectInterval)
	defer t.Stop()
	for {
		caps, err := s.Detect(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("could not publish the capabilities", "error", err)
		}
		for _, c := range caps {
			log.Debug("agent CLI", "agent", c.Agent, "support", c.Support, "version", c.Version)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-asked:
		}
	}
}

// Run registers the runner and works until ctx ends, then drains: it stops
// pulling, lets running agents finish for the drain timeout, stops and hands
// back the rest, records runner.drained and deletes its registry entry.
func (s *Service) Run(ctx context.Context) error {
	log := s.log.With("runner", s.id)
	// Attempts outlive ctx while the runner drains; hard ends them for good.
	hard, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	guard := guardrelay.NATS{NC: s.env.Conn}
	runner := command.NewRunner(hard, s.rcfg, command.Ports{
		Worktrees:    natsio.NewWorktrees(s.env.Conn, s.cfg.Host),
		History:      natsio.NewHistory(s.env.JS),
		Capabilities: s.detector,
		OpenAppender: func(ctx context.Context) (command.Appender, error) {
			return eventlog.New(ctx, s.env.Conn, s.pub, s.cfg.PublishWindow, 5*time.Second)
		},
		Spawner:      process.Spawner{},
		Executables:  process.Probe{},
		Shell:        process.Shell{},
		Dirs:         privatedir.Temp{},
		Guard:        guard,
		GuardSockets: guardrelay.Server{Checker: guard, Timeout: s.cfg.GuardTimeout, Log: log},
	}, log, s.metrics)

	if err := s.registry.Put(ctx, nil); err != nil {
		return err
	}
	s.started = time.Now().UTC()
	if _, err := s.pub.Event(ctx, events.RunnerRegistered{RunnerID: s.id, Host: s.cfg.Host, Pool: s.cfg.Pool,
		Slots: s.cfg.Slots, Version: version(), Started: s.started}); err != nil {
		return err
	}
	log.Info("runner registered", "host", s.cfg.Host, "pool", s.cfg.Pool, "slots", s.cfg.Slots)

	// Heartbeats and commands go on while draining (a cancel still works).
	bg, bgStop := context.WithCancel(hard)
	var bgWG sync.WaitGroup
	fatal := make(chan error, 3)
	asked := make(chan struct{}, 1)
	bgWG.Add(3)
	go func() {
		defer bgWG.Done()
		s.heartbeat(bg, runner, log)
	}()
	go func() {
		defer bgWG.Done()
		if err := natsin.ConsumeCommands(bg, s.env.JS, streams.Commands, s.id, s.cfg.CommandsInactive, handler{Runner: runner, detect: asked}, log); err != nil {
			fatal <- err
		}
	}()
	go func() {
		defer bgWG.Done()
		s.detectLoop(bg, asked, log)
	}()
	pull, pullStop := context.WithCancel(ctx)
	pullDone := make(chan struct{})
	go func() {
		defer close(pullDone)
		if err := natsin.PullDispatches(pull, s.dispatch, runner, log); err != nil {
			fatal <- err
		}
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-fatal:
		log.Error("runner failing", "error", err)
	}
	pullStop()
	<-pullDone
	log.Info("draining", "running", len(runner.Running()), "timeout", s.cfg.DrainTimeout)
	handed := runner.Drain(s.cfg.DrainTimeout)
	bgStop()
	bgWG.Wait()

	fin, finStop := context.WithTimeout(hard, 10*time.Second)
	defer finStop()
	if _, perr := s.pub.Event(fin, events.RunnerDrained{RunnerID: s.id, Runs: handed}); perr != nil {
		log.Error("could not record the drain", "error", perr)
	}
	if derr := s.registry.Delete(fin); derr != nil {
		log.Warn("could not delete the registry entry (it expires by itself)", "error", derr)
	}
	hardStop()
	runner.Wait()
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func (s *Service) heartbeat(ctx context.Context, runner *command.Runner, log *slog.Logger) {
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	fencing := natsio.NewFencing(s.env.JS, s.env.Source())
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.registry.Put(ctx, runner.Running()); err != nil && ctx.Err() == nil {
				log.Warn("heartbeat failed", "error", err)
			}
			// A runner that was cut off stops what was taken from it meanwhile.
			runner.Fence(ctx, fencing)
		}
	}
}

// redactor gives the use cases pkg/redact through their port: one stream
// redactor per output stream, with the default bound on what it holds back.
type redactor struct{ *redact.Redactor }

func (r redactor) Stream() chunk.Filter { return r.NewStream(0) }
