// Package daemon hosts a Phantom service: it reads the configuration, sets
// up logging, connects to NATS and provisions the streams, opens Postgres when
// the service needs it, serves /healthz, /readyz and /metrics, and runs the
// service until SIGINT or SIGTERM. The same Env is what `phantom up` hands to
// each service it composes in one process.
package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/logging"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/postgres"
)

// Service is one of Phantom's services.
type Service interface {
	// Run works until ctx ends, then drains and returns nil; an error means
	// the service could not go on.
	Run(ctx context.Context) error
}

// Env is what a host gives a service.
type Env struct {
	// Name is the service's name (gateway, scheduler, ...).
	Name string
	// Instance is unique to this process and usable as a subject token.
	Instance string
	Logger   *slog.Logger
	Conn     *nats.Conn
	JS       jetstream.JetStream
	// DB is nil unless the service needs Postgres.
	DB *pgxpool.Pool
	// Metrics is where the service registers its collectors.
	Metrics prometheus.Registerer
	// Checks is where the service adds its readiness checks.
	Checks *opshttp.Checks
	// Streams are the stream options in force.
	Streams streams.Options
}

// Source is the ce-source of the service's messages: phantom/<name>/<instance>.
func (e Env) Source() string { return "phantom/" + e.Name + "/" + e.Instance }

// Publisher returns a publisher whose messages carry this service as source.
func (e Env) Publisher() *bus.Publisher { return bus.NewPublisher(e.JS, e.Source()) }

// Common are the settings of every standalone service besides NATS
// (bus.Config) and logging (logging.Config).
type Common struct {
	// OpsAddr is where /healthz, /readyz and /metrics are served.
	OpsAddr string `envconfig:"OPS_ADDR" default:":9090" desc:"address of /healthz, /readyz and /metrics"`
	// ShutdownTimeout bounds the drain after SIGTERM.
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"how long to drain after SIGINT/SIGTERM before exiting"`
}

// Spec describes a service to host.
type Spec struct {
	Name string
	// Summary is one line for --help.
	Summary string
	// Config points at the service's own settings struct, filled from the
	// environment before Build runs.
	Config any
	// NeedsDatabase opens Postgres (PHANTOM_DATABASE_URL) for the service.
	NeedsDatabase bool
	// Migrations, when set, are applied at start.
	Migrations fs.FS
	// Build makes the service.
	Build func(ctx context.Context, env Env) (Service, error)
}

// Main runs spec as a standalone process and returns the exit code.
func Main(spec Spec) int {
	var common Common
	var natsCfg bus.Config
	var logCfg logging.Config
	var db postgres.Config
	specs := []any{&natsCfg, &logCfg, &common}
	if spec.NeedsDatabase {
		specs = append(specs, &db)
	}
	if spec.Config != nil {
		specs = append(specs, spec.Config)
	}
	if config.WantsHelp(os.Args[1:]) {
		fmt.Printf("phantom-%s: %s\n\nConfiguration (environment variables):\n\n", spec.Name, spec.Summary)
		if err := config.Usage(os.Stdout, specs...); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	}
	for _, s := range specs {
		if err := config.Load(s); err != nil {
			fmt.Fprintf(os.Stderr, "phantom-%s: %v\n", spec.Name, err)
			return 2
		}
	}
	log, err := logging.New(logCfg, os.Stderr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "phantom-%s: %v\n", spec.Name, err)
		return 2
	}
	log = log.With("service", spec.Name)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, spec, common, natsCfg, db, log); err != nil {
		log.Error("stopped", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

func run(ctx context.Context, spec Spec, common Common, natsCfg bus.Config, dbcfg postgres.Config, log *slog.Logger) error {
	instance := NewInstanceID()
	log = log.With("instance", instance)
	nc, js, err := bus.Connect(ctx, natsCfg, "phantom-"+spec.Name+"-"+instance, log)
	if err != nil {
		return err
	}
	defer nc.Close()
	so := streams.DefaultOptions()
	so.Replicas = natsCfg.Replicas
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = bus.Provision(pctx, js, so)
	cancel()
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	checks := opshttp.NewChecks()
	checks.Add("nats", NATSCheck(nc))
	env := Env{Name: spec.Name, Instance: instance, Logger: log, Conn: nc, JS: js, Metrics: reg, Checks: checks, Streams: so}
	if spec.NeedsDatabase {
		pool, err := postgres.Connect(ctx, dbcfg)
		if err != nil {
			return err
		}
		defer pool.Close()
		if spec.Migrations != nil {
			if err := postgres.Migrate(ctx, pool, spec.Migrations); err != nil {
				return err
			}
		}
		env.DB = pool
		checks.Add("postgres", func(ctx context.Context) error { return pool.Ping(ctx) })
	}
	svc, err := spec.Build(ctx, env)
	if err != nil {
		return fmt.Errorf("could not start %s: %w", spec.Name, err)
	}
	mux := http.NewServeMux()
	opshttp.Register(mux, checks, reg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return opshttp.Serve(gctx, common.OpsAddr, mux, log) })
	g.Go(func() error { return svc.Run(gctx) })
	log.Info("started", "nats", nc.ConnectedUrlRedacted(), "ops", common.OpsAddr)
	done := make(chan error, 1)
	go func() { done <- g.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		select {
		case err = <-done:
		case <-time.After(common.ShutdownTimeout):
			return fmt.Errorf("did not drain within %s", common.ShutdownTimeout)
		}
	}
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

// NATSCheck is ready while the connection is up.
func NATSCheck(nc *nats.Conn) opshttp.Check {
	return func(context.Context) error {
		if !nc.IsConnected() {
			return fmt.Errorf("nats is %s", nc.Status())
		}
		return nil
	}
}

var notToken = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// NewInstanceID returns <host>-<random>, usable as a subject token.
func NewInstanceID() string {
	host := HostToken()
	if len(host) > 40 {
		host = host[:40]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return host + "-" + hex.EncodeToString(b[:])
}
