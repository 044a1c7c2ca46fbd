// Package up is `phantom up`: the whole of Phantom in one process. It starts
// (or reaches) NATS and PostgreSQL, provisions the streams, applies the read
// model migrations, composes every service with its own daemon.Env, serves
// the gateway's API with /healthz, /readyz and /metrics on one address, and
// stops it all in order.
//
// The services composed are listed in services.go, the one file that names
// them.
package up

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/dirlock"
	"github.com/phantom-run/phantom/cmd/phantom/internal/privatepg"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/datadir"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/postgres"
)

// Component is one service phantom up composes.
type Component struct {
	// Name is the service's name (gateway, scheduler, ...): its log and
	// metric label, and its NATS connection's name.
	Name string
	// Config points at the service's settings struct; phantom up fills it
	// from the environment before Build and lists it in --help.
	Config any
	// NeedsDB hands the service the shared Postgres pool (Env.DB).
	NeedsDB bool
	// Build makes the service; ctx lives as long as the service runs. A
	// service that also has `Handler() http.Handler` (the gateway) serves
	// the API on PHANTOM_HTTP_ADDR.
	Build func(ctx context.Context, env daemon.Env) (daemon.Service, error)
}

// apiServer is what the gateway has besides daemon.Service.
type apiServer interface {
	Handler() http.Handler
}

// Options are what Start needs.
type Options struct {
	Settings Settings
	// Components are started in order and stopped in reverse order, so the
	// gateway comes last and stops first.
	Components []Component
	Logger     *slog.Logger
	// Stdout gets the PHANTOM_URL and PHANTOM_TOKEN lines once all is up.
	Stdout io.Writer
	// Getenv resolves the default data dir (os.Getenv when nil).
	Getenv func(string) string
}

// Host is a running phantom up.
type Host struct {
	opts     Options
	log      *slog.Logger
	instance string

	dataDir string
	token   string
	url     string
	natsURL string
	dbURL   string

	lock     *dirlock.Lock
	embedded *bus.Embedded
	pg       *privatepg.Server
	pool     *pgxpool.Pool
	admin    *nats.Conn
	reg      *prometheus.Registry
	checks   *opshttp.Checks

	srv        *http.Server
	srvDone    chan error
	httpCancel context.CancelFunc
	// api is set before ready turns true and never after.
	api      http.Handler
	apiOwner string
	ready    atomic.Bool
	stopping atomic.Bool

	services []*service

	failOnce sync.Once
	failed   chan struct{}
	failErr  error

	stopOnce sync.Once
	stopErr  error
}

// service is a started component.
type service struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
	nc     *nats.Conn
}

// URL is where the API listens (http://host:port).
func (h *Host) URL() string { return h.url }

// Token is the API bearer token.
func (h *Host) Token() string { return h.token }

// NATSURL is the NATS server in use.
func (h *Host) NATSURL() string { return h.natsURL }

// DatabaseURL is the PostgreSQL in use.
func (h *Host) DatabaseURL() string { return h.dbURL }

// DataDir is the state directory in use.
func (h *Host) DataDir() string { return h.dataDir }

// Failed is closed when a service fails while running.
func (h *Host) Failed() <-chan struct{} { return h.failed }

// Err is the failure that closed Failed.
func (h *Host) Err() error {
	select {
	case <-h.failed:
		return h.failErr
	default:
		return nil
	}
}

// Run starts everything, waits for ctx to end or a service to fail, and
// stops everything in order.
func Run(ctx context.Context, opts Options) error {
	h, err := Start(ctx, opts)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		h.log.Info("stopping (press Ctrl-C again to exit at once)")
	case <-h.Failed():
		h.log.Error("a service failed; stopping everything", "error", h.failErr)
	}
	return errors.Join(h.Err(), h.Stop())
}

// Start brings everything up and returns once the API is ready.
func Start(ctx context.Context, opts Options) (_ *Host, err error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stdout == nil {
		opts.Stdout = io.Discard
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if err := opts.Settings.validate(); err != nil {
		return nil, err
	}
	h := &Host{opts: opts, log: opts.Logger, instance: daemon.NewInstanceID(), failed: make(chan struct{})}
	defer func() {
		if err != nil {
			if terr := h.teardown(); terr != nil {
				h.log.Warn("could not clean up after a failed start", "error", terr)
			}
		}
	}()
	cfg := opts.Settings.Up
	if err := h.openDataDir(cfg); err != nil {
		return nil, err
	}
	if h.token, err = LoadOrCreateToken(h.dataDir, cfg.Token); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, portError("the API", "PHANTOM_HTTP_ADDR", cfg.HTTPAddr, err)
	}
	h.url = URLFor(l.Addr().String())
	h.startHTTP(l)
	if err := h.startNATS(cfg); err != nil {
		return nil, err
	}
	if err := h.startPostgres(ctx, cfg); err != nil {
		return nil, err
	}
	natsCfg := opts.Settings.NATS
	natsCfg.URL = h.natsURL
	nc, js, err := bus.Connect(ctx, natsCfg, "phantom-up-"+h.instance, h.log)
	if err != nil {
		return nil, err
	}
	h.admin = nc
	so := streams.DefaultOptions()
	so.Replicas = natsCfg.Replicas
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.Provision(pctx, js, so)
	cancel()
	if err != nil {
		return nil, err
	}
	h.checks.Add("nats", daemon.NATSCheck(nc))
	h.checks.Add("postgres", func(ctx context.Context) error { return h.pool.Ping(ctx) })

	if err := h.loadComponentConfigs(); err != nil {
		return nil, err
	}
	for _, c := range opts.Components {
		if err := h.startComponent(ctx, c, natsCfg, so); err != nil {
			return nil, err
		}
	}
	if err := client.WriteSettings(client.SettingsPath(h.dataDir), client.Settings{URL: h.url, Token: h.token}); err != nil {
		return nil, err
	}
	h.ready.Store(true)
	fmt.Fprintf(opts.Stdout, "PHANTOM_URL=%s\nPHANTOM_TOKEN=%s\n", h.url, h.token)
	names := make([]string, 0, len(h.services))
	for _, s := range h.services {
		names = append(names, s.name)
	}
	h.log.Info("phantom is up", "url", h.url, "nats", h.natsURL, "data_dir", h.dataDir, "services", strings.Join(names, ","),
		"subscribe", "nats sub --server "+h.natsURL+" 'phantom.events.>'")
	return h, nil
}

func (h *Host) openDataDir(cfg Config) error {
	h.dataDir = cfg.DataDir
	if h.dataDir == "" {
		d, err := datadir.Resolve(h.opts.Getenv)
		if err != nil {
			return err
		}
		h.dataDir = d
	} else if abs, err := filepath.Abs(h.dataDir); err == nil {
		h.dataDir = abs
	}
	if err := os.MkdirAll(h.dataDir, 0o700); err != nil {
		return fmt.Errorf("could not create the data dir %s: %w", h.dataDir, err)
	}
	lock, err := dirlock.Acquire(filepath.Join(h.dataDir, "phantom.lock"))
	if errors.Is(err, dirlock.ErrLocked) {
		return fmt.Errorf("another phantom up is using %s (%w): stop it, or set PHANTOM_DATA_DIR to another directory", h.dataDir, err)
	}
	if err != nil {
		return err
	}
	h.lock = lock
	return nil
}

func (h *Host) startNATS(cfg Config) error {
	if cfg.NATSURL != "" {
		h.natsURL = cfg.NATSURL
		return nil
	}
	emb, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: cfg.NATSListen, StoreDir: filepath.Join(h.dataDir, "nats"), Debug: cfg.NATSDebug})
	if errors.Is(err, bus.ErrPortInUse) {
		host, _, _ := net.SplitHostPort(cfg.NATSListen)
		return fmt.Errorf("could not start the embedded NATS server: %s is already in use (another NATS server, or another phantom up?).\n"+
			"  To use the NATS server that runs there:  PHANTOM_NATS_URL=nats://%s phantom up\n"+
			"  To embed one on another port:           PHANTOM_NATS_LISTEN=%s phantom up",
			cfg.NATSListen, loopback(cfg.NATSListen), net.JoinHostPort(hostOr(host), strconv.Itoa(suggestPort(host))))
	}
	if err != nil {
		return err
	}
	h.embedded = emb
	h.natsURL = emb.ClientURL()
	return nil
}

func (h *Host) startPostgres(ctx context.Context, cfg Config) error {
	h.dbURL = cfg.DatabaseURL
	if h.dbURL == "" {
		if os.Geteuid() == 0 {
			// PostgreSQL runs as an unprivileged user, who must be able to
			// walk through the data dir to reach its cluster (listing it and
			// reading the token stay the owner's).
			if err := os.Chmod(h.dataDir, 0o711); err != nil {
				return fmt.Errorf("could not open %s to the PostgreSQL user: %w", h.dataDir, err)
			}
		}
		pg, err := privatepg.Start(ctx, privatepg.Config{
			Dir: filepath.Join(h.dataDir, "postgres"), Port: cfg.PostgresPort, BinDir: cfg.PostgresBinDir,
			User: cfg.PostgresUser, Download: true, Logger: h.log.With("component", "postgres"),
		})
		if err != nil {
			return err
		}
		h.pg = pg
		h.dbURL = pg.URL()
	}
	dbcfg := h.opts.Settings.Database
	dbcfg.URL = h.dbURL
	pool, err := postgres.Connect(ctx, dbcfg)
	if err != nil {
		return err
	}
	h.pool = pool
	return postgres.Migrate(ctx, pool, readmodel.Migrations())
}

// loadComponentConfigs fills every component's settings from the
// environment. The token and data dir phantom up settled on are put in the
// environment while they load, so the gateway's config sees a generated
// token, and taken out again so agent processes do not inherit them.
func (h *Host) loadComponentConfigs() error {
	for name, value := range map[string]string{"PHANTOM_TOKEN": h.token, datadir.Env: h.dataDir} {
		if _, set := os.LookupEnv(name); !set {
			if err := os.Setenv(name, value); err != nil {
				return fmt.Errorf("could not set %s: %w", name, err)
			}
			defer os.Unsetenv(name)
		}
	}
	for _, c := range h.opts.Components {
		if c.Config == nil {
			continue
		}
		if err := config.Load(c.Config); err != nil {
			return fmt.Errorf("could not read the settings of %s: %w", c.Name, err)
		}
	}
	return nil
}

func (h *Host) startComponent(ctx context.Context, c Component, natsCfg bus.Config, so streams.Options) error {
	log := h.log.With("service", c.Name)
	nc, js, err := bus.Connect(ctx, natsCfg, "phantom-"+c.Name+"-"+h.instance, log)
	if err != nil {
		return fmt.Errorf("could not start %s: %w", c.Name, err)
	}
	env := daemon.Env{
		Name: c.Name, Instance: h.instance, Logger: log, Conn: nc, JS: js,
		Metrics: prometheus.WrapRegistererWith(prometheus.Labels{"service": c.Name}, h.reg),
		Checks:  opshttp.NewChecks(), Streams: so,
	}
	if c.NeedsDB {
		env.DB = h.pool
	}
	// The service's context outlives Start, but Ctrl-C during Start must
	// still interrupt a Build that waits.
	sctx, cancel := context.WithCancel(context.Background())
	unlink := context.AfterFunc(ctx, cancel)
	svc, err := c.Build(sctx, env)
	unlink()
	if err == nil && sctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil {
		cancel()
		nc.Close()
		return fmt.Errorf("could not start %s: %w", c.Name, err)
	}
	if api, ok := svc.(apiServer); ok {
		if h.api != nil {
			cancel()
			nc.Close()
			return fmt.Errorf("could not start %s: %s already serves the API", c.Name, h.apiOwner)
		}
		h.api, h.apiOwner = api.Handler(), c.Name
	}
	s := &service{name: c.Name, cancel: cancel, done: make(chan struct{}), nc: nc}
	h.services = append(h.services, s)
	go func() {
		defer close(s.done)
		defer func() {
			if p := recover(); p != nil {
				s.err = fmt.Errorf("panic: %v", p)
				h.fail(fmt.Errorf("%s: %w", c.Name, s.err))
			}
		}()
		err := svc.Run(sctx)
		if sctx.Err() == nil {
			// Run returns only when told to: returning on its own is a failure.
			if err == nil {
				err = errors.New("stopped on its own")
			}
			s.err = err
			h.fail(fmt.Errorf("%s: %w", c.Name, err))
			return
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			s.err = err
		}
	}()
	checks := env.Checks
	h.checks.Add("service:"+c.Name, func(ctx context.Context) error {
		failed := checks.Run(ctx)
		if len(failed) == 0 {
			return nil
		}
		parts := make([]string, 0, len(failed))
		for name, msg := range failed {
			parts = append(parts, name+": "+msg)
		}
		sort.Strings(parts)
		return errors.New(strings.Join(parts, "; "))
	})
	log.Info("service started")
	return nil
}

func (h *Host) fail(err error) {
	h.failOnce.Do(func() {
		h.failErr = err
		close(h.failed)
	})
}

func (h *Host) startHTTP(l net.Listener) {
	h.reg = prometheus.NewRegistry()
	h.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	h.checks = opshttp.NewChecks()
	h.checks.Add("phantom", func(context.Context) error {
		switch {
		case h.stopping.Load():
			return errors.New("stopping")
		case !h.ready.Load():
			return errors.New("starting")
		}
		return nil
	})
	mux := http.NewServeMux()
	opshttp.Register(mux, h.checks, h.reg)
	mux.HandleFunc("/", h.serveAPI)
	base, cancel := context.WithCancel(context.Background())
	h.httpCancel = cancel
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	h.srvDone = make(chan error, 1)
	go func() { h.srvDone <- h.srv.Serve(l) }()
}

// serveAPI hands requests to the gateway once everything is up; until then
// (and in a build that composes no gateway) it answers with a problem.
func (h *Host) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !h.ready.Load() {
		writeProblem(w, http.StatusServiceUnavailable, problems.Unavailable, "Phantom is starting", "")
		return
	}
	if h.api == nil {
		writeProblem(w, http.StatusNotFound, problems.NotFound, "Not found", "this phantom up composes no gateway, so it serves no API")
		return
	}
	h.api.ServeHTTP(w, r)
}

func writeProblem(w http.ResponseWriter, status int, code, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(problems.Problem{Type: problems.TypeURI(code), Title: title, Status: status, Detail: detail, Code: code})
}

// Stop stops everything in order: the API stops accepting, the services
// stop in reverse start order (gateway first, then runners, then the rest),
// then NATS, and PostgreSQL last. It is safe to call more than once.
func (h *Host) Stop() error {
	h.stopOnce.Do(func() { h.stopErr = h.teardown() })
	return h.stopErr
}

func (h *Host) teardown() error {
	h.stopping.Store(true)
	var errs []error
	deadline := time.Now().Add(h.opts.Settings.Up.ShutdownTimeout)
	if h.srv != nil {
		errs = append(errs, h.stopHTTP(deadline))
	}
	for i := len(h.services) - 1; i >= 0; i-- {
		s := h.services[i]
		s.cancel()
		if waitUntil(s.done, deadline) {
			if s.err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, s.err))
			}
			h.log.Info("service stopped", "service", s.name)
		} else {
			errs = append(errs, fmt.Errorf("%s did not drain within PHANTOM_SHUTDOWN_TIMEOUT (%s)", s.name, h.opts.Settings.Up.ShutdownTimeout))
		}
		s.nc.Close()
	}
	if h.admin != nil {
		h.admin.Close()
	}
	if h.pool != nil {
		// Close waits for borrowed connections; a service that did not drain
		// may keep one forever, so bound the wait.
		done := make(chan struct{})
		go func() { h.pool.Close(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			errs = append(errs, errors.New("the Postgres pool did not close within 10s"))
		}
	}
	if h.embedded != nil {
		h.embedded.Shutdown()
		h.log.Info("embedded NATS stopped")
	}
	if h.pg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		errs = append(errs, h.pg.Stop(ctx))
		cancel()
	}
	h.lock.Release()
	return errors.Join(errs...)
}

// waitUntil waits for done until deadline; a service that has finished
// counts as done even when the deadline has passed.
func waitUntil(done <-chan struct{}, deadline time.Time) bool {
	select {
	case <-done:
		return true
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

func (h *Host) stopHTTP(deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Second):
		// Event streams never go idle: end them, then wait for Shutdown.
		h.httpCancel()
		err = <-done
	}
	h.httpCancel()
	if err != nil {
		_ = h.srv.Close()
	}
	if serr := <-h.srvDone; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("could not serve the API: %w", serr)
	}
	if err != nil {
		return fmt.Errorf("could not stop the API gracefully: %w", err)
	}
	return nil
}

// portError explains an address in use and how to choose another.
func portError(what, variable, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(addr)
		return fmt.Errorf("could not serve %s on %s: the address is already in use (another phantom up?); pick another: %s=%s phantom up",
			what, addr, variable, net.JoinHostPort(hostOr(host), strconv.Itoa(suggestPort(host))))
	}
	return fmt.Errorf("could not serve %s on %s: %w", what, addr, err)
}

func hostOr(host string) string {
	if host == "" {
		return "127.0.0.1"
	}
	return host
}

// loopback turns a listen address into one a client dials.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// suggestPort finds a port free right now on host, for the error message.
func suggestPort(host string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(hostOr(host), "0"))
	if err != nil {
		return 0
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
