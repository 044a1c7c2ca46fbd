// Package service wires Phantom's gateway: the HTTP API through which runs
// are submitted, read, listed and watched. It is the gateway's public
// surface: the standalone binary (services/gateway) and `phantom up` both
// build the gateway with New and run it with Run.
//
// Standalone, Run serves the API on Config.HTTPAddr, and the daemon's ops
// server serves /healthz, /readyz and /metrics on PHANTOM_OPS_ADDR. A host
// that has its own listener (phantom up) sets HTTPAddr to "" and mounts
// Handler() instead; Handler serves only the API (/v1/...), so the host
// adds the ops routes next to it with opshttp.Register on the same mux.
package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/gateway/internal/adapters/natsout"
	"github.com/phantom-run/phantom/services/gateway/internal/adapters/pgstore"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
	"github.com/phantom-run/phantom/services/gateway/internal/ports/httpapi"
)

// Config is the gateway's configuration, read from PHANTOM_* variables.
type Config struct {
	// HTTPAddr is where Run serves the API; "" serves nothing (the host
	// mounts Handler on its own listener).
	HTTPAddr string `envconfig:"HTTP_ADDR" default:"127.0.0.1:7400" desc:"address the HTTP API listens on (empty: do not listen; a host mounts the handler)"`
	// Token is the bearer token every /v1 request must carry.
	Token string `envconfig:"TOKEN" desc:"bearer token every /v1 request must send as 'Authorization: Bearer <token>' (required; e.g. openssl rand -hex 32)"`
	// SubmitWait is how long a submit waits for the scheduler's answer.
	SubmitWait time.Duration `envconfig:"SUBMIT_WAIT" default:"2s" desc:"how long POST /v1/runs waits for the scheduler to queue or reject the run before answering 202 anyway"`
	// WorkspaceRoots, when set, are the directories workspaces must be inside of.
	WorkspaceRoots []string `envconfig:"WORKSPACE_ROOTS" desc:"comma-separated absolute directories a run's workspace must be inside of (empty: any absolute path)"`
	// MaxBodyBytes bounds request bodies.
	MaxBodyBytes int64 `envconfig:"MAX_BODY_BYTES" default:"1048576" desc:"largest request body accepted, in bytes"`
	// MaxPromptBytes bounds a run's prompt.
	MaxPromptBytes int `envconfig:"MAX_PROMPT_BYTES" default:"262144" desc:"largest prompt accepted, in bytes (must fit in PHANTOM_MAX_BODY_BYTES)"`
	// MaxStreams bounds the event streams open at once.
	MaxStreams int `envconfig:"MAX_STREAMS" default:"256" desc:"event streams (SSE) open at once, at most; more are refused with 503"`
	// SSEHeartbeat is the comment interval of idle event streams.
	SSEHeartbeat time.Duration `envconfig:"SSE_HEARTBEAT" default:"15s" desc:"interval of keep-alive comments on an idle event stream"`
	// WriteTimeout bounds each write to a client.
	WriteTimeout time.Duration `envconfig:"HTTP_WRITE_TIMEOUT" default:"30s" desc:"how long one write to a client may take before the connection is dropped"`
	// QueryTimeout bounds each read-model query and event-log lookup.
	QueryTimeout time.Duration `envconfig:"QUERY_TIMEOUT" default:"10s" desc:"how long one Postgres query or event-log lookup may take"`
}

// minTokenLength is the shortest token that does not draw a warning.
const minTokenLength = 16

// Validate refuses a configuration the gateway cannot serve safely with,
// naming the variable at fault, and cleans PHANTOM_WORKSPACE_ROOTS.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Token) == "" {
		return errors.New("PHANTOM_TOKEN is not set: the gateway refuses to serve its API without a bearer token; set PHANTOM_TOKEN to a long random secret (e.g. the output of 'openssl rand -hex 32')")
	}
	if c.Token != strings.TrimSpace(c.Token) {
		return errors.New("PHANTOM_TOKEN must not start or end with whitespace")
	}
	if c.SubmitWait < 0 || c.SubmitWait > time.Minute {
		return fmt.Errorf("PHANTOM_SUBMIT_WAIT must be in 0s..=1m, got %s", c.SubmitWait)
	}
	if c.MaxPromptBytes < 1 {
		return fmt.Errorf("PHANTOM_MAX_PROMPT_BYTES must be at least 1, got %d", c.MaxPromptBytes)
	}
	// A prompt escaped as JSON may take up to 6 bytes per byte (\u00XX);
	// the body must at least hold an unescaped prompt of the maximum size.
	if c.MaxBodyBytes < int64(c.MaxPromptBytes)+4096 {
		return fmt.Errorf("PHANTOM_MAX_BODY_BYTES (%d) must exceed PHANTOM_MAX_PROMPT_BYTES (%d) by at least 4096", c.MaxBodyBytes, c.MaxPromptBytes)
	}
	if c.MaxStreams < 1 {
		return fmt.Errorf("PHANTOM_MAX_STREAMS must be at least 1, got %d", c.MaxStreams)
	}
	if c.SSEHeartbeat < 100*time.Millisecond {
		return fmt.Errorf("PHANTOM_SSE_HEARTBEAT must be at least 100ms, got %s", c.SSEHeartbeat)
	}
	if c.WriteTimeout <= 0 {
		return fmt.Errorf("PHANTOM_HTTP_WRITE_TIMEOUT must be positive, got %s", c.WriteTimeout)
	}
	if c.QueryTimeout <= 0 {
		return fmt.Errorf("PHANTOM_QUERY_TIMEOUT must be positive, got %s", c.QueryTimeout)
	}
	roots := make([]string, 0, len(c.WorkspaceRoots))
	for _, root := range c.WorkspaceRoots {
		root = strings.TrimSpace(root)
		if root == "" {
			continue
		}
		if !filepath.IsAbs(root) {
			return fmt.Errorf("PHANTOM_WORKSPACE_ROOTS: %q must be an absolute path", root)
		}
		roots = append(roots, filepath.Clean(root))
	}
	c.WorkspaceRoots = roots
	return nil
}

// Service is the gateway.
type Service struct {
	cfg  Config
	env  daemon.Env
	api  *httpapi.API
	stop context.CancelFunc
	// stopping ends when Run returns or the HTTP server shuts down; open
	// event streams end with it.
	stopping context.Context
}

// New builds the gateway. It needs env.Conn, env.JS and env.DB (the read
// models), and refuses a configuration without a token.
func New(ctx context.Context, cfg Config, env daemon.Env) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if env.Conn == nil || env.JS == nil {
		return nil, errors.New("the gateway needs a NATS connection and JetStream")
	}
	if env.DB == nil {
		return nil, errors.New("the gateway needs Postgres (PHANTOM_DATABASE_URL) for the read models")
	}
	if env.Logger == nil {
		return nil, errors.New("the gateway needs a logger")
	}
	if len(cfg.Token) < minTokenLength {
		env.Logger.Warn("PHANTOM_TOKEN is short; use at least 16 random characters", "length", len(cfg.Token))
	}
	store := pgstore.New(env.DB, cfg.QueryTimeout)
	eventLog := natsout.NewEventLog(env.JS, cfg.QueryTimeout)
	submitter := natsout.NewSubmitter(env.Conn, env.Publisher(), env.Logger)
	sched := natsout.NewSchedulerClient(env.Conn, env.JS, env.Publisher(), cfg.QueryTimeout)
	limits := command.Limits{MaxPromptBytes: cfg.MaxPromptBytes, WorkspaceRoots: cfg.WorkspaceRoots}
	submit := command.NewSubmit(submitter, limits, cfg.SubmitWait).WithProfiles(sched)
	stopping, stop := context.WithCancel(context.Background())
	api, err := httpapi.New(httpapi.Deps{
		Token:   cfg.Token,
		Logger:  env.Logger,
		Metrics: env.Metrics,
		Limits: httpapi.Limits{
			MaxBodyBytes: cfg.MaxBodyBytes,
			Heartbeat:    cfg.SSEHeartbeat,
			MaxStreams:   cfg.MaxStreams,
			WriteTimeout: cfg.WriteTimeout,
		},
		Stopping: stopping,
		Submit:   submit,
		Runs:     query.NewRuns(store),
		// A stream of a run nobody knows yet waits as long as a submit does.
		Events: query.NewEvents(store, eventLog, cfg.SubmitWait),

		Guard:         query.NewGuard(store),
		GuardPolicies: command.NewGuardPolicies(natsout.NewAppender(env.Publisher())),
		// A conversation just created may take the projector a moment to show.
		Agents:     command.NewAgents(natsout.NewControl(env.Publisher(), 15*time.Second), store, submit, limits, max(cfg.SubmitWait, 2*time.Second)),
		AgentReads: query.NewAgents(store),
		// The scheduler's area.
		SchedulerView: query.NewSchedulerView(sched, store),
		Cancel:        command.NewCancel(runStates{store: store, log: sched}, sched, cfg.SubmitWait),
		Rerun:         command.NewRerun(sched, submit),
		Profiles:      command.NewProfiles(sched, limits),
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("could not build the HTTP API: %w", err)
	}
	return &Service{cfg: cfg, env: env, api: api, stop: stop, stopping: stopping}, nil
}

// Handler is the HTTP API (/v1/...), for a host that serves it on its own
// listener. It does not serve /healthz, /readyz or /metrics: the host
// registers those with opshttp.Register.
func (s *Service) Handler() http.Handler { return s.api }

// Run serves the API on Config.HTTPAddr (when set) until ctx ends, then
// ends open event streams, drains the server and returns nil.
func (s *Service) Run(ctx context.Context) error {
	defer s.stop()
	if s.cfg.HTTPAddr == "" {
		<-ctx.Done()
		return nil
	}
	l, err := net.Listen("tcp", s.cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("could not listen on PHANTOM_HTTP_ADDR %s: %w", s.cfg.HTTPAddr, err)
	}
	return s.Serve(ctx, l)
}

// Serve serves the API on l until ctx ends.
func (s *Service) Serve(ctx context.Context, l net.Listener) error {
	srv := &http.Server{
		Handler:           s.api,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// No ReadTimeout or WriteTimeout: they would cut event streams. The
		// handlers set a deadline on each body read and each stream write.
	}
	// Shutdown waits for idle connections only: event streams must be told to end.
	srv.RegisterOnShutdown(s.stop)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	s.env.Logger.Info("gateway listening", "addr", l.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("could not serve the HTTP API: %w", err)
	case <-ctx.Done():
	}
	s.stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("could not shut the HTTP API down: %w", err)
	}
	<-errc
	return nil
}

// runStates tells where a run stands: the read model's status, or, for a
// run the projector has not caught up with yet, its existence in the log.
type runStates struct {
	store *pgstore.Store
	log   *natsout.SchedulerClient
}

func (r runStates) RunStatus(ctx context.Context, id string) (runs.Status, bool, error) {
	status, found, err := r.store.RunStatus(ctx, id)
	if err != nil || found {
		return status, found, err
	}
	found, err = r.log.Exists(ctx, id)
	return "", found, err
}
