package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
)

// fakeAPI speaks the gateway's HTTP contract (POST /v1/runs -> 202 {"id"},
// GET /v1/runs/{id}, GET /v1/runs?limit&cursor, GET /v1/runs/{id}/events as
// SSE with Last-Event-ID and follow) over runs whose events the test
// scripts. It is the other side of the CLI's tests, not a gateway.
type fakeAPI struct {
	t     *testing.T
	srv   *httptest.Server
	token string
	// handler is the API, also mountable elsewhere (in phantom up).
	handler http.Handler

	mu        sync.Mutex
	runs      map[string]*fakeRun
	order     []string // submission order
	seq       uint64
	submitted []runs.Spec
	// reject, when set, answers every submit with this problem.
	reject *problems.Problem
	// notFound answers the first that many streams of a run with 404, as a
	// gateway whose read model lags behind the submit would.
	notFound int
	// dropAfter closes the first stream of each run after that many events.
	dropAfter int
	streams   int
	// lastEventIDs are the Last-Event-ID headers streams arrived with.
	lastEventIDs []string
	// script builds the events of a submitted run; nil means the default.
	script func(id string, spec runs.Spec) []events.Payload
}

type fakeRun struct {
	run     api.Run
	events  []api.RunEvent
	changed chan struct{}
	dropped bool
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, token: "test-token", runs: map[string]*fakeRun{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/runs", f.submit)
	mux.HandleFunc("GET /v1/runs", f.list)
	mux.HandleFunc("GET /v1/runs/{id}", f.get)
	mux.HandleFunc("GET /v1/runs/{id}/events", f.stream)
	f.handler = f.auth(mux)
	f.srv = httptest.NewServer(f.handler)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			problem(w, http.StatusUnauthorized, problems.Problem{Title: "Unauthorized", Detail: "missing or wrong bearer token", Code: problems.Unauthorized})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func problem(w http.ResponseWriter, status int, p problems.Problem) {
	p.Status = status
	p.Type = problems.TypeURI(p.Code)
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

// defaultScript is a fake agent that says hello and exits 0, or, for the
// prompt "exit N", fails with code N.
func defaultScript(id string, spec runs.Spec) []events.Payload {
	evs := []events.Payload{
		&events.RunRequested{RunID: id, Spec: spec},
		&events.RunQueued{RunID: id, Attempt: 1, Position: 1, Pool: "default", Provider: spec.Agent},
		&events.RunDispatched{RunID: id, Attempt: 1, Pool: "default", Provider: spec.Agent},
		&events.RunStarted{RunID: id, Attempt: 1, RunnerID: "r1", Host: "h1", PID: 42, Cwd: spec.Workspace},
		&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: 1, Data: "hello from " + spec.Prompt + "\n", Lines: 1}},
		&events.RunChunkStderr{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: 1, Data: "a warning\n", Lines: 1}},
		&events.RunSemantic{RunID: id, Attempt: 1, Kind: events.SemanticMessage, Text: "hello"},
		&events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: 2, Offset: 20, Data: "bye\n", Lines: 1}},
	}
	if code, ok := strings.CutPrefix(spec.Prompt, "exit "); ok {
		n, _ := strconv.Atoi(code)
		return append(evs, &events.RunCLIExit{RunID: id, Attempt: 1, ExitCode: n},
			&events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonAgentError, Message: "the agent failed", ExitCode: &n})
	}
	return append(evs, &events.RunCLIExit{RunID: id, Attempt: 1, ExitCode: 0},
		&events.RunCompleted{RunID: id, Attempt: 1, ExitCode: 0, DurationMs: 1234})
}

func (f *fakeAPI) submit(w http.ResponseWriter, r *http.Request) {
	var spec runs.Spec
	if err := json.NewDecoder(r.Body).Decode(&spec); err != nil {
		problem(w, http.StatusBadRequest, problems.Problem{Title: "Invalid request", Detail: err.Error(), Code: problems.InvalidRequest})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reject != nil {
		problem(w, f.reject.Status, *f.reject)
		return
	}
	f.submitted = append(f.submitted, spec)
	id := envelope.NewID()
	run := &fakeRun{run: api.Run{ID: id, Status: string(runs.StatusQueued), Agent: spec.Agent, Prompt: spec.Prompt,
		Workspace: spec.Workspace, CreatedAt: time.Now().Add(-90 * time.Second)}, changed: make(chan struct{})}
	f.runs[id] = run
	f.order = append(f.order, id)
	script := f.script
	if script == nil {
		script = defaultScript
	}
	for _, p := range script(id, spec) {
		f.appendLocked(id, p)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(api.Submitted{RunID: id, Status: api.StatusQueued, Position: 1})
}

// add creates a run with no events (for logs -f and ps).
func (f *fakeAPI) add(status string, exit *int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := envelope.NewID()
	f.runs[id] = &fakeRun{run: api.Run{ID: id, Status: status, Agent: "fake", Prompt: "p " + id, ExitCode: exit, CreatedAt: time.Now().Add(-3 * time.Hour)}, changed: make(chan struct{})}
	f.order = append(f.order, id)
	return id
}

// append adds an event to a run and wakes its followers.
func (f *fakeAPI) append(id string, p events.Payload) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appendLocked(id, p)
}

func (f *fakeAPI) appendLocked(id string, p events.Payload) {
	run := f.runs[id]
	data, err := json.Marshal(p)
	if err != nil {
		f.t.Errorf("marshal %T: %v", p, err)
		return
	}
	f.seq += 3 // sequences of other runs interleave in the real stream
	run.events = append(run.events, api.RunEvent{Seq: f.seq, ID: envelope.NewID(), Type: p.EventType(), Source: "phantom/test/1",
		Time: time.Now().UTC(), RunID: id, Attempt: 1, Data: data})
	switch p.(type) {
	case *events.RunCompleted:
		run.run.Status = string(runs.StatusCompleted)
	case *events.RunFailed:
		run.run.Status = string(runs.StatusFailed)
	}
	close(run.changed)
	run.changed = make(chan struct{})
}

func (f *fakeAPI) get(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	run, ok := f.runs[r.PathValue("id")]
	var body api.Run
	if ok {
		body = run.run
	}
	f.mu.Unlock()
	if !ok {
		problem(w, http.StatusNotFound, problems.Problem{Title: "Not found", Detail: "no run " + r.PathValue("id"), Code: problems.NotFound})
		return
	}
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		problem(w, http.StatusBadRequest, problems.Problem{Title: "Invalid request", Detail: "limit must be 1..1000", Field: "limit", Code: problems.InvalidRequest})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Newest first; the cursor is the index of the next run.
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	page := api.RunPage{Runs: []api.Run{}}
	for i := len(f.order) - 1 - start; i >= 0 && len(page.Runs) < limit; i-- {
		page.Runs = append(page.Runs, f.runs[f.order[i]].run)
	}
	if next := start + len(page.Runs); next < len(f.order) {
		cursor := strconv.Itoa(next)
		page.NextCursor = &cursor
	}
	_ = json.NewEncoder(w).Encode(page)
}

func (f *fakeAPI) stream(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	follow := r.URL.Query().Get("follow") != "false"
	var after uint64
	f.mu.Lock()
	run, ok := f.runs[id]
	f.streams++
	f.lastEventIDs = append(f.lastEventIDs, r.Header.Get("Last-Event-ID"))
	drop := 0
	if ok && f.dropAfter > 0 && !run.dropped {
		run.dropped = true
		drop = f.dropAfter
	}
	lagging := f.streams <= f.notFound
	f.mu.Unlock()
	if !ok || lagging {
		problem(w, http.StatusNotFound, problems.Problem{Title: "Not found", Detail: "no run " + id, Code: problems.NotFound})
		return
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		after, _ = strconv.ParseUint(v, 10, 64)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": hello\n\n")
	sent := 0
	for {
		f.mu.Lock()
		var pending []api.RunEvent
		for _, e := range run.events {
			if e.Seq > after {
				pending = append(pending, e)
			}
		}
		changed := run.changed
		f.mu.Unlock()
		for _, e := range pending {
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %d\nevent: run_event\ndata: %s\n\n", e.Seq, b)
			w.(http.Flusher).Flush()
			after = e.Seq
			sent++
			if drop > 0 && sent == drop {
				return // the connection drops mid-run
			}
			if e.Terminal() && follow {
				return
			}
		}
		if !follow {
			return
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}
