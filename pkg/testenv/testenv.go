// Package testenv gives integration tests the real infrastructure they run
// against: an embedded NATS server with JetStream in a temp dir per test, a
// fresh Postgres database per test, and the other Phantom services a test
// needs, each run as its own process (StartService).
//
// Postgres comes from PHANTOM_TEST_DATABASE_URL when set (a database is
// created on that server for each test and dropped after), else from
// testcontainers, else the test is skipped. Under CI=true a missing Postgres
// fails the test instead of skipping it.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/bus"
)

// NATS is an embedded JetStream server for one test, with the streams provisioned.
type NATS struct {
	Server *bus.Embedded
	URL    string
	Conn   *nats.Conn
	JS     jetstream.JetStream
	// Options are the options the streams were provisioned with.
	Options streams.Options
}

// StartNATS starts an embedded NATS server with JetStream on a free loopback
// port, storing in a temp dir, provisions Phantom's streams and buckets, and
// stops everything when the test ends.
func StartNATS(t testing.TB) *NATS {
	t.Helper()
	return StartNATSWith(t, streams.Options{RunnerTTL: 3 * time.Second, LeaseTTL: 3 * time.Second})
}

// StartNATSWith is StartNATS with stream options.
func StartNATSWith(t testing.TB, o streams.Options) *NATS {
	t.Helper()
	srv, err := bus.StartEmbedded(bus.EmbeddedConfig{Listen: "127.0.0.1:0", StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL(), nats.Name(t.Name()))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, js, o))
	return &NATS{Server: srv, URL: srv.ClientURL(), Conn: nc, JS: js, Options: o}
}

// Connect opens another connection to the test server, closed with the test.
func (n *NATS) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(n.URL, nats.Name(t.Name()))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// Logger returns a logger that writes through t.Log (quiet unless -v or failure).
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Postgres returns the URL of a fresh, empty database for this test.
func Postgres(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := os.Getenv("PHANTOM_TEST_DATABASE_URL")
	if base == "" {
		var err error
		base, err = container(ctx, t)
		if err != nil {
			unavailable(t, fmt.Sprintf("no Postgres: PHANTOM_TEST_DATABASE_URL is unset and testcontainers failed: %v", err))
		}
	}
	return freshDatabase(ctx, t, base)
}

// PostgresPool returns a pool on a fresh database for this test.
func PostgresPool(t testing.TB) (*pgxpool.Pool, string) {
	t.Helper()
	u := Postgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, u)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool, u
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true: integration tests must not skip)", why)
	}
	t.Skip(why)
}

func container(ctx context.Context, t testing.TB) (string, error) {
	c, err := tcpostgres.Run(ctx, "postgres:16-alpine",
		tcpostgres.WithDatabase("postgres"), tcpostgres.WithUsername("postgres"), tcpostgres.WithPassword("postgres"),
		tcpostgres.BasicWaitStrategies())
	if err != nil {
		return "", err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.Terminate(ctx)
	})
	return c.ConnectionString(ctx, "sslmode=disable")
}

func freshDatabase(ctx context.Context, t testing.TB, base string) string {
	t.Helper()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		unavailable(t, fmt.Sprintf("could not connect to Postgres at %s: %v", redact(base), err))
	}
	defer admin.Close(context.Background())
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "phantom_test_" + hex.EncodeToString(b[:])
	_, err = admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	require.NoError(t, err, "could not create the test database")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Logf("could not drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Logf("could not drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(base)
	require.NoError(t, err, "PHANTOM_TEST_DATABASE_URL must be a postgres:// URL")
	u.Path = "/" + name
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
