// Package e2eagents runs the whole of Phantom, composed as `phantom up`
// composes it, with the real agent CLIs (Claude Code, Codex, Gemini CLI at
// their pinned versions, `make agent-clis`) pointed at the fake model API of
// pkg/testenv/modelapi, and checks what users see: the semantic events on
// the run's stream and the read models behind the API.
package e2eagents

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/cli"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/pkg/testenv/agentcli"
	"github.com/phantom-run/phantom/pkg/testenv/modelapi"
	"github.com/phantom-run/phantom/services/runner/fakeagent"
)

func TestMain(m *testing.M) {
	// The runner launches the fake agent as this binary, and Claude Code
	// runs `<this binary> guard hook` (the real phantom guard hook) as its
	// PreToolUse hook.
	fakeagent.MainIfRequested()
	cli.GuardHookIfRequested()
	os.Exit(m.Run())
}

// syncBuffer collects the logs of all of Phantom (for the redaction test).
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	t  *testing.T
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Write(p)
	s.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type bundle struct {
	logs *syncBuffer
	t    *testing.T
	ctx  context.Context
	host *up.Host
	nc   *nats.Conn
	http *http.Client
	api  *modelapi.Server
	db   string
	ws   string
}

// setup starts a fake model API and all of Phantom with the agent CLIs of
// clis on PATH (none: they are missing), each with an isolated home.
func setup(t *testing.T, clis ...string) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	api := modelapi.Start(t)
	dir := t.TempDir()
	db := testenv.Postgres(t)
	vars := map[string]string{
		"PHANTOM_DATA_DIR":                   filepath.Join(dir, "data"),
		"PHANTOM_HTTP_ADDR":                  "127.0.0.1:0",
		"PHANTOM_NATS_LISTEN":                "127.0.0.1:0",
		"PHANTOM_DATABASE_URL":               db,
		"PHANTOM_LOG_LEVEL":                  "warn",
		"PHANTOM_SCHEDULER_MAX_PER_PROVIDER": "2",
	}
	for _, kv := range agentcli.Env(t, dir, api.URL) {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	path := []string{}
	for _, c := range clis {
		path = append(path, filepath.Dir(agentcli.Find(t, c)))
	}
	// node for the CLIs, git for the worktree service; the CLIs' own
	// directory only when they are meant to be found.
	path = append(path, "/usr/local/bin", "/usr/bin", "/bin")
	vars["PATH"] = strings.Join(path, string(os.PathListSeparator))
	for k, v := range vars {
		t.Setenv(k, v)
	}
	settings, err := up.LoadSettings()
	require.NoError(t, err)
	logs := &syncBuffer{t: t}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := up.Start(ctx, up.Options{Settings: settings, Components: up.Components(), Logger: logger})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, h.Stop()) })
	nc, err := nats.Connect(h.NATSURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	ws := filepath.Join(dir, "workspace")
	require.NoError(t, os.MkdirAll(ws, 0o755))
	return &bundle{logs: logs, t: t, ctx: ctx, host: h, nc: nc, http: &http.Client{Timeout: 2 * time.Minute}, api: api, db: db, ws: ws}
}

func jsOf(t *testing.T, b *bundle) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	return js
}

func (b *bundle) do(method, path string, body any) (int, []byte) {
	b.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(b.t, err)
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.host.URL()+path, r)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+b.host.Token())
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.http.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	return resp.StatusCode, data
}

// getJSON GETs a path and decodes the 200 answer.
func (b *bundle) getJSON(path string, out any) {
	b.t.Helper()
	code, data := b.do(http.MethodGet, path, nil)
	require.Equal(b.t, http.StatusOK, code, "%s: %s", path, data)
	require.NoError(b.t, json.Unmarshal(data, out))
}

func (b *bundle) submit(path string, spec map[string]any) string {
	b.t.Helper()
	code, data := b.do(http.MethodPost, path, spec)
	require.Equal(b.t, http.StatusAccepted, code, string(data))
	var out api.Submitted
	require.NoError(b.t, json.Unmarshal(data, &out))
	require.NotEmpty(b.t, out.RunID)
	return out.RunID
}

// stream is a run's events, as a client sees them.
type stream []api.RunEvent

// follow reads a run's event stream to its end.
func (b *bundle) follow(runID string) stream {
	b.t.Helper()
	return b.readEvents(runID, func(api.RunEvent) bool { return false })
}

// readEvents reads a run's event stream until until says stop or the stream ends.
func (b *bundle) readEvents(runID string, until func(api.RunEvent) bool) stream {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.ctx, http.MethodGet, b.host.URL()+"/v1/runs/"+runID+"/events", nil)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+b.host.Token())
	resp, err := (&http.Client{Timeout: 3 * time.Minute}).Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	require.Equal(b.t, http.StatusOK, resp.StatusCode)
	var out stream
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var ev api.RunEvent
			require.NoError(b.t, json.Unmarshal([]byte(data), &ev))
			out = append(out, ev)
			if until(ev) {
				return out
			}
		}
	}
	return out
}

func (s stream) types() []string {
	var out []string
	for _, e := range s {
		out = append(out, e.Type)
	}
	return out
}

func (s stream) semantics() []events.RunSemantic {
	var out []events.RunSemantic
	for _, e := range s {
		if e.Type == "run.semantic" {
			var sem events.RunSemantic
			if json.Unmarshal(e.Data, &sem) == nil {
				out = append(out, sem)
			}
		}
	}
	return out
}

func (s stream) kinds() map[string]int {
	out := map[string]int{}
	for _, sem := range s.semantics() {
		out[sem.Kind]++
	}
	return out
}

func (s stream) last(typ string) map[string]any {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Type == typ {
			var m map[string]any
			_ = json.Unmarshal(s[i].Data, &m)
			return m
		}
	}
	return nil
}

func (s stream) String() string { return fmt.Sprint(s.types()) }

// run is the run's row from the API, once its status is final.
func (b *bundle) run(runID, status string) map[string]any {
	b.t.Helper()
	var run map[string]any
	require.Eventually(b.t, func() bool {
		code, data := b.do(http.MethodGet, "/v1/runs/"+runID, nil)
		if code != http.StatusOK {
			return false
		}
		require.NoError(b.t, json.Unmarshal(data, &run))
		return run["status"] == status
	}, 60*time.Second, 50*time.Millisecond, "run %s never reached %s (last: %v)", runID, status, run)
	return run
}

// readModels waits until the projector has the run's messages (at least
// minMessages) and returns messages, tool calls and usage.
func (b *bundle) readModels(runID string, minMessages int) ([]api.Message, []api.ToolCall, map[string]any) {
	b.t.Helper()
	var msgs api.MessageList
	require.Eventually(b.t, func() bool {
		b.getJSON("/v1/runs/"+runID+"/messages", &msgs)
		return len(msgs.Messages) >= minMessages
	}, 30*time.Second, 50*time.Millisecond)
	var tools api.ToolCallList
	b.getJSON("/v1/runs/"+runID+"/tool-calls", &tools)
	var usage map[string]any
	b.getJSON("/v1/runs/"+runID+"/usage", &usage)
	return msgs.Messages, tools.ToolCalls, usage
}
