package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config is how a service reaches NATS.
type Config struct {
	// URL of the NATS server(s), comma-separated for a cluster.
	URL string `envconfig:"NATS_URL" default:"nats://127.0.0.1:4222" desc:"NATS server URL(s), comma-separated"`
	// CredsFile is a NATS credentials file (JWT + nkey seed).
	CredsFile string `envconfig:"NATS_CREDS" desc:"NATS credentials file (optional)"`
	// TLSCA is a PEM bundle of the CAs trusted for the server's certificate.
	TLSCA string `envconfig:"NATS_TLS_CA" desc:"PEM file of CAs to trust for NATS TLS (optional)"`
	// TLSCert and TLSKey are the client certificate for mutual TLS.
	TLSCert string `envconfig:"NATS_TLS_CERT" desc:"client certificate PEM for NATS mutual TLS (optional)"`
	TLSKey  string `envconfig:"NATS_TLS_KEY" desc:"client key PEM for NATS mutual TLS (optional)"`
	// ConnectTimeout bounds the first connection.
	ConnectTimeout time.Duration `envconfig:"NATS_CONNECT_TIMEOUT" default:"10s" desc:"how long to wait for the first NATS connection"`
	// Replicas is the replication factor of the streams this service provisions.
	Replicas int `envconfig:"NATS_REPLICAS" default:"1" desc:"stream replicas (1 for one server, 3 for a cluster)"`
}

// Connect dials NATS and returns the connection with a JetStream context.
// After the first connection it reconnects forever: a service outlives a
// NATS restart.
func Connect(ctx context.Context, cfg Config, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.Timeout(cfg.ConnectTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats reconnected", "url", c.ConnectedUrlRedacted()) }),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Error("nats async error", "subject", subject, "error", err)
		}),
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.TLSCA != "" || cfg.TLSCert != "" {
		tc, err := tlsConfig(cfg)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}

	deadline := time.Now().Add(cfg.ConnectTimeout)
	var nc *nats.Conn
	var err error
	for {
		nc, err = nats.Connect(cfg.URL, opts...)
		if err == nil {
			break
		}
		if time.Now().After(deadline) || !errors.Is(err, nats.ErrNoServers) {
			return nil, nil, fmt.Errorf("could not connect to NATS at %s: %w", cfg.URL, err)
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("could not connect to NATS at %s: %w", cfg.URL, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("could not open JetStream: %w", err)
	}
	return nc, js, nil
}

func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLSCA != "" {
		pem, err := os.ReadFile(cfg.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("could not read PHANTOM_NATS_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("PHANTOM_NATS_TLS_CA %s holds no PEM certificate", cfg.TLSCA)
		}
		tc.RootCAs = pool
	}
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			return nil, errors.New("PHANTOM_NATS_TLS_CERT and PHANTOM_NATS_TLS_KEY must be set together")
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("could not load the NATS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
