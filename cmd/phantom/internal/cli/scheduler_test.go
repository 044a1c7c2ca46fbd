package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// withScheduler adds the scheduler's endpoints to the fake API: a queue, a
// cancel that refuses ended runs, a rerun that submits the overrides, and
// providers.
func withScheduler(b *bundle) (reruns *[]runs.Spec, cancels *[]string) {
	b.t.Helper()
	var rr []runs.Spec
	var cc []string
	hold := time.Now().Add(time.Hour)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/queue", func(w http.ResponseWriter, r *http.Request) {
		q := map[string]any{"live": true, "asOf": time.Now(), "pending": 2, "running": 1,
			"limits": rpc.SchedulerLimits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 512, AgingHorizonMs: 600000},
			"jobs": []rpc.QueueJob{
				{RunID: "r-high", Position: 1, Attempt: 1, Provider: "claude", Priority: 5, EffectivePriority: 6.25, WaitMs: 90000, Waiting: rpc.WaitProviderHold, HoldUntil: &hold},
				{RunID: "r-low", Position: 2, Attempt: 2, Provider: "codex", Priority: -3, EffectivePriority: -2.5, WaitMs: 5000, Waiting: rpc.WaitGlobalLimit},
			}}
		if r.URL.Query().Get("provider") == "codex" {
			q["jobs"] = []rpc.QueueJob{}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(q)
	})
	mux.HandleFunc("POST /v1/runs/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		cc = append(cc, id)
		if id == "ended" {
			problem(w, http.StatusConflict, problems.Problem{Title: "Conflict", Detail: "run ended has already ended (completed)", Code: problems.Conflict})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": id, "status": "canceled"})
	})
	mux.HandleFunc("POST /v1/runs/{id}/rerun", func(w http.ResponseWriter, r *http.Request) {
		var o runs.Spec
		require.NoError(b.t, json.NewDecoder(r.Body).Decode(&o))
		rr = append(rr, o)
		spec := runs.Merge(o, runs.Spec{Agent: "fake", Prompt: "again", Workspace: "/w"})
		body, _ := json.Marshal(spec)
		r2 := httptest.NewRequest(http.MethodPost, "/v1/runs", bytes.NewReader(body))
		b.api.submit(w, r2)
	})
	mux.HandleFunc("GET /v1/providers", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"providers":[{"provider":"claude","queued":2,"retrying":0,"running":1,"held":true,"holds":1,
			"lastHold":{"until":"2030-01-02T03:04:05Z","reason":"usage_limit","resetKnown":true,"runId":"r1","message":"m"}},
			{"provider":"codex","queued":0,"retrying":1,"running":0,"held":false,"holds":0,"lastHold":null}]}`))
	})
	mux.Handle("/", b.api.handler)
	srv := httptest.NewServer(b.api.auth(mux))
	b.t.Cleanup(srv.Close)
	b.env["PHANTOM_URL"] = srv.URL
	return &rr, &cc
}

func TestQueuePrintsPositionsAndWhyRunsWait(t *testing.T) {
	b := setup(t)
	withScheduler(b)
	res := b.run("", "queue")
	require.Equal(t, 0, res.code, res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 3)
	require.Regexp(t, `^POS\s+RUN\s+PRIO\s+EFF\s+WAIT\s+PROVIDER\s+ATTEMPT\s+WHY$`, lines[0])
	require.Regexp(t, `^1\s+r-high\s+5\s+6\.2\s+1m30s\s+claude\s+1\s+provider_hold until \d\d:\d\d:\d\d$`, lines[1])
	require.Regexp(t, `^2\s+r-low\s+-3\s+-2\.5\s+5s\s+codex\s+2\s+global_limit$`, lines[2])
	require.Contains(t, res.stderr, "2 waiting, 1 running (at most 2 at once, 1 per provider; aging horizon 10m0s)")

	res = b.run("", "queue", "--provider", "codex", "--json")
	require.Equal(t, 0, res.code, res.stderr)
	var q struct{ Jobs []any }
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &q))
	require.Empty(t, q.Jobs)
}

func TestCancelRuns(t *testing.T) {
	b := setup(t)
	_, cancels := withScheduler(b)
	res := b.run("", "cancel", "r1", "r2")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "r1 canceled\nr2 canceled\n", res.stdout)
	res = b.run("", "cancel", "ended", "r3")
	require.Equal(t, ExitFailed, res.code)
	require.Equal(t, "r3 canceled\n", res.stdout, "the others are still canceled")
	require.Contains(t, res.stderr, "could not cancel run ended: run ended has already ended (completed) [conflict, HTTP 409]")
	require.Equal(t, []string{"r1", "r2", "ended", "r3"}, *cancels)
	require.Equal(t, ExitUsage, b.run("", "cancel").code)
}

func TestRerunSendsTheOverridesAndFollows(t *testing.T) {
	b := setup(t)
	reruns, _ := withScheduler(b)
	res := b.run("", "rerun", "r-old", "--priority", "0", "--model", "opus")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stderr, "reruns r-old")
	require.Len(t, *reruns, 1)
	o := (*reruns)[0]
	require.Equal(t, 0, *o.Priority, "an explicit 0 is sent")
	require.Equal(t, "opus", o.Model)
	require.Nil(t, o.TimeoutSeconds, "what is not given is left out")
	res = b.run("", "rerun", "r-old", "-d")
	require.Equal(t, 0, res.code, res.stderr)
	require.Regexp(t, `^[0-9A-Z]{26}\n$`, res.stdout)
}

func TestProvidersShowHolds(t *testing.T) {
	b := setup(t)
	withScheduler(b)
	res := b.run("", "providers")
	require.Equal(t, 0, res.code, res.stderr)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Regexp(t, `^claude\s+2\s+0\s+1\s+usage_limit until 2030-01-0\d \d\d:04:05$`, lines[1])
	require.Regexp(t, `^codex\s+0\s+1\s+0\s+-$`, lines[2])
}
