package cli

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/testenv"
)

type gatewayStandIn struct{ h http.Handler }

func (g gatewayStandIn) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (g gatewayStandIn) Handler() http.Handler         { return g.h }

// TestCLIFindsPhantomUpByItself runs the CLI against a real phantom up
// host whose API is the contract stand-in: the CLI is told nothing but the
// data dir, and finds URL and token in the client.json phantom up wrote.
func TestCLIFindsPhantomUpByItself(t *testing.T) {
	api := newFakeAPI(t)
	dataDir := filepath.Join(t.TempDir(), "phantom")
	var s up.Settings
	s.Up = up.Config{DataDir: dataDir, HTTPAddr: "127.0.0.1:0", NATSURL: testenv.StartNATS(t).URL,
		DatabaseURL: testenv.Postgres(t), Token: api.token, ShutdownTimeout: 10 * time.Second}
	s.NATS.ConnectTimeout = 10 * time.Second
	s.Database.ConnectTimeout = 30 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h, err := up.Start(ctx, up.Options{Settings: s, Logger: testenv.Logger(t), Components: []up.Component{{
		Name: "gateway",
		Build: func(context.Context, daemon.Env) (daemon.Service, error) {
			return gatewayStandIn{h: api.handler}, nil
		},
	}}})
	require.NoError(t, err)
	defer h.Stop()

	// Only phantom up serves the API now.
	api.srv.Close()
	b := &bundle{t: t, api: api, env: map[string]string{"PHANTOM_DATA_DIR": dataDir}}
	r := b.run("", "run", "--agent", "fake", "-w", t.TempDir(), "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "hello from hello\nbye\n", r.stdout)
	r = b.run("", "ps")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, api.order[0])

	require.NoError(t, h.Stop())
	r = b.run("", "ps")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "is `phantom up` running?")
	_, err = os.Stat(filepath.Join(dataDir, "client.json"))
	require.NoError(t, err, "client.json stays for the next phantom up")
}
