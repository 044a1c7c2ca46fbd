package up

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/privatepg"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/testenv"
)

// The components below stand in for the real services: they use the Env
// the way a service does (publish an event, read Postgres, register a
// metric and a readiness check, serve the API) and record when they stop.

type stopLog struct {
	mu    sync.Mutex
	order []string
}

func (l *stopLog) add(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.order = append(l.order, name)
}

func (l *stopLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

type waitService struct {
	name  string
	stops *stopLog
	run   func(ctx context.Context) error
	api   http.Handler
}

func (s *waitService) Run(ctx context.Context) error {
	if s.run != nil {
		if err := s.run(ctx); err != nil {
			return err
		}
	}
	<-ctx.Done()
	s.stops.add(s.name)
	return nil
}

type apiService struct{ *waitService }

func (s apiService) Handler() http.Handler { return s.api }

type appenderConfig struct {
	RunID string `envconfig:"TEST_APPENDER_RUN_ID" default:"01HZZZZZZZZZZZZZZZZZZZZZZZ" desc:"run id the test appender writes about"`
}

type apiConfig struct {
	Token string `envconfig:"TOKEN" desc:"bearer token"`
}

type components struct {
	stops    *stopLog
	appender appenderConfig
	api      apiConfig
	rows     int
}

// list is the test's seam: an appender, a Postgres reader and an API.
func (c *components) list() []Component {
	return []Component{
		{Name: "appender", Config: &c.appender, Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			published := prometheus.NewCounter(prometheus.CounterOpts{Name: "phantom_test_published_total", Help: "events published"})
			env.Metrics.MustRegister(published)
			env.Checks.Add("appender", func(context.Context) error { return nil })
			return &waitService{name: "appender", stops: c.stops, run: func(ctx context.Context) error {
				_, err := env.Publisher().Event(ctx, &events.RunRequested{RunID: c.appender.RunID})
				if err == nil {
					published.Inc()
				}
				return err
			}}, nil
		}},
		{Name: "reader", NeedsDB: true, Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			if env.DB == nil {
				return nil, errors.New("no database")
			}
			// The read models are migrated before any service starts.
			if _, err := env.DB.Exec(ctx, "SELECT count(*) FROM runs"); err != nil {
				return nil, err
			}
			if _, err := env.DB.Exec(ctx, "CREATE TABLE IF NOT EXISTS starts (at timestamptz NOT NULL)"); err != nil {
				return nil, err
			}
			if _, err := env.DB.Exec(ctx, "INSERT INTO starts VALUES (now())"); err != nil {
				return nil, err
			}
			if err := env.DB.QueryRow(ctx, "SELECT count(*) FROM starts").Scan(&c.rows); err != nil {
				return nil, err
			}
			return &waitService{name: "reader", stops: c.stops}, nil
		}},
		{Name: "api", Config: &c.api, Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			if env.DB != nil {
				return nil, errors.New("the api component did not ask for the database")
			}
			token := c.api.Token
			mux := http.NewServeMux()
			mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+token {
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				_, _ = io.WriteString(w, "pong")
			})
			return apiService{&waitService{name: "api", stops: c.stops, api: mux}}, nil
		}},
	}
}

type bundle struct {
	t       *testing.T
	ctx     context.Context
	dataDir string
	comps   *components
	stdout  *bytes.Buffer
}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	base := t.TempDir()
	if os.Geteuid() == 0 {
		// The private PostgreSQL runs as nobody, who must reach the data dir.
		require.NoError(t, os.Chmod(base, 0o711))
		require.NoError(t, os.Chmod(filepath.Dir(base), 0o711))
	}
	t.Setenv("PHANTOM_TOKEN", "")
	os.Unsetenv("PHANTOM_TOKEN")
	return &bundle{t: t, ctx: ctx, dataDir: filepath.Join(base, "phantom"), comps: &components{stops: &stopLog{}}, stdout: &bytes.Buffer{}}
}

func (b *bundle) settings() Settings {
	var s Settings
	s.Up = Config{DataDir: b.dataDir, HTTPAddr: "127.0.0.1:0", NATSListen: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second}
	s.NATS.ConnectTimeout = 10 * time.Second
	s.NATS.Replicas = 1
	s.Database.MaxConns = 8
	s.Database.ConnectTimeout = 30 * time.Second
	return s
}

func (b *bundle) start(s Settings) *Host {
	b.t.Helper()
	b.stdout.Reset()
	h, err := Start(b.ctx, Options{Settings: s, Components: b.comps.list(), Logger: testenv.Logger(b.t), Stdout: b.stdout})
	require.NoError(b.t, err)
	b.t.Cleanup(func() { _ = h.Stop() })
	return h
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func eventsOf(t *testing.T, natsURL, runID string) int {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	require.NoError(t, err)
	defer nc.Close()
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, streams.Events)
	require.NoError(t, err)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("phantom.events.run."+runID+".>"))
	require.NoError(t, err)
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

func TestUpComposesServesStopsInOrderAndKeepsHistory(t *testing.T) {
	b := setup(t)
	if _, _, err := privatepg.FindBinaries(b.ctx, 0); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no PostgreSQL installed and CI=true")
		}
		t.Skip("no PostgreSQL installed")
	}
	h := b.start(b.settings())

	// The lines a shell can use, and the file the CLI reads by itself.
	require.Contains(t, b.stdout.String(), "PHANTOM_URL="+h.URL()+"\n")
	require.Contains(t, b.stdout.String(), "PHANTOM_TOKEN="+h.Token()+"\n")
	require.Len(t, h.Token(), 43)
	s, err := client.ReadSettings(filepath.Join(b.dataDir, "client.json"))
	require.NoError(t, err)
	require.Equal(t, client.Settings{URL: h.URL(), Token: h.Token()}, s)
	for _, f := range []string{"client.json", "token"} {
		st, err := os.Stat(filepath.Join(b.dataDir, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	_, ok := os.LookupEnv("PHANTOM_TOKEN")
	require.False(t, ok, "the generated token is not left in the environment")
	require.Equal(t, h.Token(), b.comps.api.Token, "the API's config saw the generated token")
	require.True(t, strings.HasPrefix(h.DatabaseURL(), "postgres://phantom@127.0.0.1:"), "a private PostgreSQL: %s", h.DatabaseURL())

	code, body := get(t, h.URL()+"/readyz", "")
	require.Equal(t, http.StatusOK, code, body)
	var ready struct{ Status string }
	require.NoError(t, json.Unmarshal([]byte(body), &ready))
	require.Equal(t, "ready", ready.Status)
	code, _ = get(t, h.URL()+"/healthz", "")
	require.Equal(t, http.StatusOK, code)
	code, body = get(t, h.URL()+"/v1/ping", h.Token())
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "pong", body)
	code, _ = get(t, h.URL()+"/v1/ping", "wrong")
	require.Equal(t, http.StatusUnauthorized, code)
	require.Eventually(t, func() bool {
		_, body = get(t, h.URL()+"/metrics", "")
		return strings.Contains(body, `phantom_test_published_total{service="appender"} 1`)
	}, 10*time.Second, 50*time.Millisecond, "metrics carry the service label")
	require.Contains(t, body, "go_goroutines")
	require.Eventually(t, func() bool { return eventsOf(t, h.NATSURL(), b.comps.appender.RunID) == 1 }, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, 1, b.comps.rows)

	require.NoError(t, h.Stop())
	require.Equal(t, []string{"api", "reader", "appender"}, b.comps.stops.get(), "services stop in reverse start order")
	_, err = net.DialTimeout("tcp", strings.TrimPrefix(h.URL(), "http://"), time.Second)
	require.Error(t, err, "the API no longer listens")

	// A second phantom up on the same data dir keeps all history.
	token := h.Token()
	h2 := b.start(b.settings())
	require.Equal(t, token, h2.Token(), "the token is kept")
	require.Equal(t, 2, b.comps.rows, "Postgres rows survive")
	require.Eventually(t, func() bool { return eventsOf(t, h2.NATSURL(), b.comps.appender.RunID) == 2 }, 10*time.Second, 50*time.Millisecond, "the event log survives")
	require.NoError(t, h2.Stop())
}

func TestUpWithExternalNATSAndDatabase(t *testing.T) {
	b := setup(t)
	n := testenv.StartNATS(t)
	s := b.settings()
	s.Up.NATSURL = n.URL
	s.Up.DatabaseURL = testenv.Postgres(t)
	s.Up.Token = "fixed-token"
	h := b.start(s)
	require.Equal(t, n.URL, h.NATSURL())
	require.Equal(t, "fixed-token", h.Token())
	require.Equal(t, "fixed-token", b.comps.api.Token)
	_, err := os.Stat(filepath.Join(b.dataDir, "postgres"))
	require.ErrorIs(t, err, os.ErrNotExist, "no private PostgreSQL when PHANTOM_DATABASE_URL is set")
	_, err = os.Stat(filepath.Join(b.dataDir, TokenFile))
	require.ErrorIs(t, err, os.ErrNotExist, "a token from the environment is not written")
	require.Eventually(t, func() bool { return eventsOf(t, n.URL, b.comps.appender.RunID) == 1 }, 10*time.Second, 50*time.Millisecond)
	code, _ := get(t, h.URL()+"/readyz", "")
	require.Equal(t, http.StatusOK, code)

	// While it runs, a second phantom up on the same data dir is refused.
	_, err = Start(b.ctx, Options{Settings: s, Components: nil, Logger: testenv.Logger(t)})
	require.ErrorContains(t, err, "another phantom up is using "+b.dataDir)
	require.NoError(t, h.Stop())
}

func TestUpExplainsAPortInUse(t *testing.T) {
	b := setup(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()

	s := b.settings()
	s.Up.NATSListen = addr
	s.Up.DatabaseURL = "postgres://unused@127.0.0.1:1/unused"
	_, err = Start(b.ctx, Options{Settings: s, Logger: testenv.Logger(t)})
	require.Error(t, err)
	require.Contains(t, err.Error(), addr+" is already in use")
	require.Contains(t, err.Error(), "PHANTOM_NATS_URL=nats://"+addr+" phantom up")
	require.Contains(t, err.Error(), "PHANTOM_NATS_LISTEN=127.0.0.1:")

	s = b.settings()
	s.Up.HTTPAddr = addr
	_, err = Start(b.ctx, Options{Settings: s, Logger: testenv.Logger(t)})
	require.ErrorContains(t, err, "could not serve the API on "+addr+": the address is already in use")
	require.ErrorContains(t, err, "PHANTOM_HTTP_ADDR=127.0.0.1:")

	// A failed start released the data dir.
	s = b.settings()
	s.Up.NATSURL = testenv.StartNATS(t).URL
	s.Up.DatabaseURL = testenv.Postgres(t)
	h := b.start(s)
	require.NoError(t, h.Stop())
}

func TestUpStopsWhenAServiceFails(t *testing.T) {
	b := setup(t)
	s := b.settings()
	s.Up.NATSURL = testenv.StartNATS(t).URL
	s.Up.DatabaseURL = testenv.Postgres(t)
	boom := errors.New("boom")
	comps := append(b.comps.list(), Component{Name: "failing", Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
		return &waitService{name: "failing", stops: b.comps.stops, run: func(ctx context.Context) error {
			select {
			case <-time.After(200 * time.Millisecond):
				return boom
			case <-ctx.Done():
				return nil
			}
		}}, nil
	}})
	ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
	defer cancel()
	err := Run(ctx, Options{Settings: s, Components: comps, Logger: testenv.Logger(t)})
	require.ErrorIs(t, err, boom)
	require.ErrorContains(t, err, "failing: boom")
	require.Equal(t, []string{"api", "reader", "appender"}, b.comps.stops.get())

	// A component that cannot be built stops the start and everything started.
	b.comps.stops = &stopLog{}
	comps = append(b.comps.list(), Component{Name: "broken", Build: func(context.Context, daemon.Env) (daemon.Service, error) {
		return nil, errors.New("bad settings")
	}})
	_, err = Start(b.ctx, Options{Settings: s, Components: comps, Logger: testenv.Logger(t)})
	require.ErrorContains(t, err, "could not start broken: bad settings")
	require.Equal(t, []string{"api", "reader", "appender"}, b.comps.stops.get())
}

func TestTokenIsGeneratedOnceAndPrivate(t *testing.T) {
	dir := t.TempDir()
	tok, err := LoadOrCreateToken(dir, "")
	require.NoError(t, err)
	require.Len(t, tok, 43)
	again, err := LoadOrCreateToken(dir, "")
	require.NoError(t, err)
	require.Equal(t, tok, again)
	p := filepath.Join(dir, TokenFile)
	require.NoError(t, os.Chmod(p, 0o644))
	_, err = LoadOrCreateToken(dir, "")
	require.NoError(t, err)
	st, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a token file readable by others is tightened")
	env, err := LoadOrCreateToken(t.TempDir(), "from-env")
	require.NoError(t, err)
	require.Equal(t, "from-env", env)
	require.NoError(t, os.WriteFile(p, []byte("\n"), 0o600))
	_, err = LoadOrCreateToken(dir, "")
	require.ErrorContains(t, err, "is empty")
}

func TestUsageListsEveryVariable(t *testing.T) {
	var c components
	var out bytes.Buffer
	require.NoError(t, Usage(&out, c.list()))
	for _, v := range []string{"PHANTOM_DATA_DIR", "PHANTOM_HTTP_ADDR", "PHANTOM_NATS_LISTEN", "PHANTOM_NATS_URL", "PHANTOM_DATABASE_URL",
		"PHANTOM_POSTGRES_PORT", "PHANTOM_TOKEN", "PHANTOM_LOG_LEVEL", "PHANTOM_NATS_CREDS", "PHANTOM_DATABASE_MAX_CONNS", "PHANTOM_TEST_APPENDER_RUN_ID"} {
		require.Contains(t, out.String(), v)
	}
	require.Contains(t, out.String(), "use the NATS server at this URL instead of embedding one", "phantom up's own description wins")
	require.Equal(t, 1, strings.Count(out.String(), "PHANTOM_NATS_URL "))
}

func TestURLFor(t *testing.T) {
	require.Equal(t, "http://127.0.0.1:7400", URLFor("127.0.0.1:7400"))
	require.Equal(t, "http://127.0.0.1:7400", URLFor(":7400"))
	require.Equal(t, "http://127.0.0.1:7400", URLFor("0.0.0.0:7400"))
	require.Equal(t, "http://[::1]:7400", URLFor("[::1]:7400"))
}
