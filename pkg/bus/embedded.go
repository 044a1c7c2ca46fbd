package bus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedConfig configures a NATS server run inside the process.
type EmbeddedConfig struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string
	// StoreDir holds JetStream's files.
	StoreDir string
	// ServerName names the server (defaults to "phantom").
	ServerName string
	// Debug turns the server's own logging on (to stderr).
	Debug bool
}

// Embedded is a running in-process NATS server with JetStream.
type Embedded struct {
	srv *server.Server
}

// ErrPortInUse is returned when the embedded server's address is taken.
var ErrPortInUse = errors.New("address already in use")

// StartEmbedded starts a NATS server with JetStream in this process. It does
// not install signal handlers (the process owns its signals).
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("could not parse NATS listen address %q (want host:port): %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("NATS listen port %q must be 0..65535", portStr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// nats-server exits the process on a bind failure in some paths; check first.
		l, err := net.Listen("tcp", net.JoinHostPort(host, portStr))
		if err != nil {
			return nil, fmt.Errorf("could not listen on %s: %w", cfg.Listen, ErrPortInUse)
		}
		_ = l.Close()
	}
	name := cfg.ServerName
	if name == "" {
		name = "phantom"
	}
	opts := &server.Options{
		ServerName:         name,
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           cfg.StoreDir,
		NoSigs:             true,
		NoLog:              !cfg.Debug,
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 256 << 20,
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("could not create the embedded NATS server: %w", err)
	}
	if cfg.Debug {
		srv.ConfigureLogger()
	}
	go srv.Start()
	if !srv.ReadyForConnections(15 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("could not start the embedded NATS server: not ready within 15s")
	}
	return &Embedded{srv: srv}, nil
}

// ClientURL is the URL clients dial.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}
