package service_test

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/gateway/service"
)

func TestNewRefusesToStartWithoutAToken(t *testing.T) {
	t.Parallel()
	for _, token := range []string{"", "   "} {
		cfg := defaultConfig()
		cfg.Token = token
		_, err := service.New(context.Background(), cfg, daemon.Env{Logger: testenv.Logger(t)})
		require.ErrorContains(t, err, "PHANTOM_TOKEN is not set")
		require.ErrorContains(t, err, "refuses")
	}
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		tune func(*service.Config)
		want string
	}{
		{"token padded", func(c *service.Config) { c.Token = " secret-secret-secret " }, "PHANTOM_TOKEN"},
		{"negative wait", func(c *service.Config) { c.SubmitWait = -time.Second }, "PHANTOM_SUBMIT_WAIT must be in 0s..=1m"},
		{"relative root", func(c *service.Config) { c.WorkspaceRoots = []string{"src"} }, "PHANTOM_WORKSPACE_ROOTS"},
		{"body smaller than prompt", func(c *service.Config) { c.MaxBodyBytes = 1000; c.MaxPromptBytes = 1000 }, "PHANTOM_MAX_BODY_BYTES"},
		{"no streams", func(c *service.Config) { c.MaxStreams = 0 }, "PHANTOM_MAX_STREAMS"},
		{"fast heartbeat", func(c *service.Config) { c.SSEHeartbeat = time.Millisecond }, "PHANTOM_SSE_HEARTBEAT"},
	}
	for _, c := range cases {
		cfg := defaultConfig()
		c.tune(&cfg)
		require.ErrorContains(t, cfg.Validate(), c.want, c.name)
	}
	cfg := defaultConfig()
	cfg.WorkspaceRoots = []string{" /home/me/src/ ", "", "/srv//work"}
	require.NoError(t, cfg.Validate())
	require.Equal(t, []string{"/home/me/src", "/srv/work"}, cfg.WorkspaceRoots)
}

func TestConfigDefaultsAreDocumented(t *testing.T) {
	t.Parallel()
	vars, err := config.Vars(&service.Config{})
	require.NoError(t, err)
	defaults := map[string]string{}
	for _, v := range vars {
		require.NotEmpty(t, v.Description, v.Name)
		defaults[v.Name] = v.Default
	}
	require.Equal(t, "127.0.0.1:7400", defaults["PHANTOM_HTTP_ADDR"])
	require.Equal(t, "2s", defaults["PHANTOM_SUBMIT_WAIT"])
	require.Contains(t, defaults, "PHANTOM_TOKEN")
	require.Contains(t, defaults, "PHANTOM_WORKSPACE_ROOTS")
}

func TestRunServesTheAPIOnItsAddressUntilCanceled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// A second gateway on the same infrastructure, listening itself.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	cfg := defaultConfig()
	cfg.HTTPAddr = addr
	env := daemon.Env{Name: "gateway", Instance: "second", Logger: testenv.Logger(t), Conn: b.nats.Conn, JS: b.nats.JS, DB: b.db, Metrics: b.reg}
	svc, err := service.New(b.ctx, cfg, env)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(b.ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	require.Eventually(t, func() bool {
		req, _ := http.NewRequestWithContext(b.ctx, http.MethodGet, "http://"+addr+"/v1/runs", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	_, err = net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener must be closed")
}
