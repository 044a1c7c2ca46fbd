package up

import (
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/logging"
	"github.com/phantom-run/phantom/pkg/postgres"
)

// Config are phantom up's own settings. Where a variable is shared with
// another settings struct (PHANTOM_NATS_URL, PHANTOM_DATABASE_URL), the
// description here is the one --help shows, because it is listed first.
type Config struct {
	DataDir         string        `envconfig:"DATA_DIR" desc:"where phantom up keeps its state (NATS store, private PostgreSQL, token, client.json); default ~/.local/share/phantom, /var/lib/phantom as root"`
	HTTPAddr        string        `envconfig:"HTTP_ADDR" default:"127.0.0.1:7400" desc:"address of the API and of /healthz, /readyz, /metrics (port 0 picks a free one)"`
	NATSListen      string        `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222" desc:"address of the embedded NATS server (port 0 picks a free one)"`
	NATSURL         string        `envconfig:"NATS_URL" desc:"use the NATS server at this URL instead of embedding one"`
	DatabaseURL     string        `envconfig:"DATABASE_URL" desc:"use this PostgreSQL instead of starting a private one under the data dir"`
	PostgresPort    int           `envconfig:"POSTGRES_PORT" default:"0" desc:"port of the private PostgreSQL on 127.0.0.1 (0 picks a free one)"`
	PostgresBinDir  string        `envconfig:"POSTGRES_BIN_DIR" desc:"directory of initdb, pg_ctl and postgres for the private PostgreSQL (default: searched on the machine)"`
	PostgresUser    string        `envconfig:"POSTGRES_USER" desc:"when phantom up runs as root: the unprivileged user the private PostgreSQL runs as (default nobody)"`
	Token           string        `envconfig:"TOKEN" desc:"API bearer token (default: generated once and kept in the data dir)"`
	NATSDebug       bool          `envconfig:"NATS_DEBUG" default:"false" desc:"log the embedded NATS server's own messages"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"30s" desc:"how long the services may drain after SIGINT/SIGTERM"`
}

// Settings is everything phantom up reads from the environment besides the
// components' own settings.
type Settings struct {
	Up       Config
	NATS     bus.Config
	Database postgres.Config
	Log      logging.Config
}

// specs are the settings structs in the order --help lists them.
func (s *Settings) specs() []any { return []any{&s.Up, &s.NATS, &s.Database, &s.Log} }

// LoadSettings reads phantom up's settings from the environment.
func LoadSettings() (Settings, error) {
	var s Settings
	for _, spec := range s.specs() {
		if err := config.Load(spec); err != nil {
			return Settings{}, err
		}
	}
	if err := s.validate(); err != nil {
		return Settings{}, err
	}
	return s, nil
}

func (s Settings) validate() error {
	if _, _, err := net.SplitHostPort(s.Up.HTTPAddr); err != nil {
		return fmt.Errorf("PHANTOM_HTTP_ADDR %q must be host:port: %w", s.Up.HTTPAddr, err)
	}
	if s.Up.NATSURL == "" {
		if _, _, err := net.SplitHostPort(s.Up.NATSListen); err != nil {
			return fmt.Errorf("PHANTOM_NATS_LISTEN %q must be host:port: %w", s.Up.NATSListen, err)
		}
	}
	if s.Up.PostgresPort < 0 || s.Up.PostgresPort > 65535 {
		return fmt.Errorf("PHANTOM_POSTGRES_PORT %d must be 0..65535", s.Up.PostgresPort)
	}
	if s.Up.ShutdownTimeout <= 0 {
		return fmt.Errorf("PHANTOM_SHUTDOWN_TIMEOUT %s must be positive", s.Up.ShutdownTimeout)
	}
	return nil
}

// AllSpecs are the settings structs of phantom up and of every component,
// in --help order.
func AllSpecs(components []Component) []any {
	var s Settings
	specs := s.specs()
	for _, c := range components {
		if c.Config != nil {
			specs = append(specs, c.Config)
		}
	}
	return specs
}

// Usage prints every variable phantom up and its components read.
func Usage(w io.Writer, components []Component) error {
	return config.Usage(w, AllSpecs(components)...)
}

// Markdown renders the same variables as a Markdown table (for the README).
func Markdown(w io.Writer, components []Component) error {
	return config.Markdown(w, AllSpecs(components)...)
}

// URLFor is the http:// URL clients on this machine use for a listening
// address: a wildcard host becomes the loopback address.
func URLFor(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port
}
