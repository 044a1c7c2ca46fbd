package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
)

// lifecycle appends and projects a whole successful run, returning the
// sequences of its events.
func (b *bundle) lifecycle(runID string, spec runs.Spec) []uint64 {
	b.t.Helper()
	seqs := []uint64{
		b.emit(events.RunRequested{RunID: runID, Spec: spec, RequestedBy: "api"}),
		b.emit(events.RunQueued{RunID: runID, Attempt: 1, Provider: spec.ProviderOrAgent(), Pool: spec.PoolOrDefault(), Position: 1}),
		b.emit(events.RunDispatched{RunID: runID, Attempt: 1, Pool: spec.PoolOrDefault(), Provider: spec.ProviderOrAgent()}),
		b.emit(events.RunStarted{RunID: runID, Attempt: 1, RunnerID: "runner-1", Host: "host-1", PID: 4242, Argv: []string{"claude", "-p"}, Cwd: spec.Workspace}),
		b.emit(events.RunChunkStdout{RunChunk: events.RunChunk{RunID: runID, Attempt: 1, Seq: 1, Data: "working\n", Lines: 1}}),
		b.emit(events.RunCompleted{RunID: runID, Attempt: 1, ExitCode: 0, DurationMs: 1200, Result: "done"}),
	}
	b.project(seqs...)
	return seqs
}

func TestGetRunReturnsTheReadModelRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	spec := runs.Spec{Agent: "claude", Prompt: "Fix it.", Workspace: "/w/app", Priority: intp(4), Labels: map[string]string{"k": "v"}}
	seqs := b.lifecycle(id, spec)

	res := b.get("/v1/runs/" + id)
	require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
	var run api.Run
	require.NoError(t, json.Unmarshal(res.body, &run))
	require.Equal(t, id, run.ID)
	require.Equal(t, "claude", run.Agent)
	require.Equal(t, "claude", run.Provider)
	require.Equal(t, "default", run.Pool)
	require.Equal(t, "Fix it.", run.Prompt)
	require.Equal(t, "/w/app", run.Workspace)
	var recorded runs.Spec
	require.NoError(t, json.Unmarshal(run.Spec, &recorded))
	require.Equal(t, spec, recorded)
	require.Equal(t, "completed", run.Status)
	require.Equal(t, 4, run.Priority)
	require.Equal(t, 1, run.Attempt)
	require.Equal(t, "runner-1", *run.RunnerID)
	require.Equal(t, 0, *run.ExitCode)
	require.Equal(t, "done", *run.Result)
	require.Nil(t, run.Reason)
	require.Equal(t, "api", *run.RequestedBy)
	require.NotNil(t, run.QueuedAt)
	require.NotNil(t, run.DispatchedAt)
	require.NotNil(t, run.StartedAt)
	require.NotNil(t, run.FinishedAt)
	require.False(t, run.CreatedAt.IsZero())
	require.Equal(t, int64(seqs[len(seqs)-1]), run.LastSeq)
	// Every key is present, null or not.
	var raw map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(res.body, &raw))
	require.Contains(t, raw, "rerunOf")
	require.Equal(t, "null", string(raw["rerunOf"]))

	missing := b.get("/v1/runs/" + envelope.NewID())
	require.Equal(t, http.StatusNotFound, missing.status)
	require.Equal(t, problems.NotFound, missing.problem(t).Code)

	bad := b.get("/v1/runs/not.a.token")
	require.Equal(t, http.StatusBadRequest, bad.status)
	p := bad.problem(t)
	require.Equal(t, "id", p.Field)
}

func TestListRunsPagesNewestFirstWithoutGapsOrDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const total = 23
	var ids []string // in creation order
	for i := range total {
		id := envelope.NewID()
		ids = append(ids, id)
		seqs := []uint64{b.emit(events.RunRequested{RunID: id, Spec: runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}})}
		if i%3 == 0 {
			seqs = append(seqs, b.emit(events.RunQueued{RunID: id, Attempt: 1, Provider: "fake", Pool: "default", Position: 1}))
		}
		b.project(seqs...)
	}
	newestFirst := make([]string, 0, total)
	for i := len(ids) - 1; i >= 0; i-- {
		newestFirst = append(newestFirst, ids[i])
	}

	var seen []string
	cursor := ""
	pages := 0
	for {
		path := "/v1/runs?limit=5"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		res := b.get(path)
		require.Equal(t, http.StatusOK, res.status, "body: %s", res.body)
		var page api.RunPage
		require.NoError(t, json.Unmarshal(res.body, &page))
		pages++
		for _, r := range page.Runs {
			seen = append(seen, r.ID)
		}
		if pages == 2 {
			// Runs created while paging sort before the first page: they
			// must not show up on later pages, nor shift them.
			for range 3 {
				id := envelope.NewID()
				b.project(b.emit(events.RunRequested{RunID: id, Spec: runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}}))
			}
		}
		if page.NextCursor == nil {
			require.Len(t, page.Runs, 3)
			break
		}
		require.Len(t, page.Runs, 5)
		cursor = *page.NextCursor
		require.Less(t, pages, 10, "paging does not end")
	}
	require.Equal(t, 5, pages)
	require.Equal(t, newestFirst, seen)

	// The default page holds everything here (50 >= 26), newest first.
	res := b.get("/v1/runs")
	var all api.RunPage
	require.NoError(t, json.Unmarshal(res.body, &all))
	require.Len(t, all.Runs, total+3)
	require.Nil(t, all.NextCursor)
	require.Equal(t, `null`, strings.TrimSpace(string(jsonField(t, res.body, "nextCursor"))))

	// Status filters, repeated or comma-separated.
	res = b.get("/v1/runs?status=queued")
	var queuedPage api.RunPage
	require.NoError(t, json.Unmarshal(res.body, &queuedPage))
	require.Len(t, queuedPage.Runs, 8) // i = 0, 3, ..., 21
	for _, r := range queuedPage.Runs {
		require.Equal(t, "queued", r.Status)
	}
	res = b.get("/v1/runs?status=queued,requested&limit=200")
	var both api.RunPage
	require.NoError(t, json.Unmarshal(res.body, &both))
	require.Len(t, both.Runs, total+3)
	res = b.get("/v1/runs?status=queued&status=requested&limit=200")
	require.NoError(t, json.Unmarshal(res.body, &both))
	require.Len(t, both.Runs, total+3)
}

func jsonField(t *testing.T, body []byte, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	v, ok := m[name]
	require.True(t, ok, "no %s in %s", name, body)
	return v
}

func TestListRunsHidesArchivedUnlessAsked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	kept, archived := envelope.NewID(), envelope.NewID()
	spec := runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"}
	b.project(b.emit(events.RunRequested{RunID: kept, Spec: spec}))
	b.project(b.emit(events.RunRequested{RunID: archived, Spec: spec}), b.emit(events.RunArchived{RunID: archived}))

	var page api.RunPage
	require.NoError(t, json.Unmarshal(b.get("/v1/runs").body, &page))
	require.Len(t, page.Runs, 1)
	require.Equal(t, kept, page.Runs[0].ID)
	require.NoError(t, json.Unmarshal(b.get("/v1/runs?includeArchived=true").body, &page))
	require.Len(t, page.Runs, 2)
	require.True(t, page.Runs[0].Archived)
}

func TestListRunsRefusesBadParameters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct{ query, field, detail string }{
		{"limit=0", "limit", "1..=200"},
		{"limit=201", "limit", "1..=200"},
		{"limit=-1", "limit", "1..=200"},
		{"limit=ten", "limit", "1..=200"},
		{"cursor=bogus", "cursor", "nextCursor"},
		{"cursor=" + url.QueryEscape("cjE6Li4u"), "cursor", "nextCursor"}, // "r1:..." is not an id
		{"status=sleeping", "status", "queued"},
		{"includeArchived=maybe", "includeArchived", "true or false"},
	}
	for _, c := range cases {
		res := b.get("/v1/runs?" + c.query)
		require.Equal(t, http.StatusBadRequest, res.status, "%s: %s", c.query, res.body)
		p := res.problem(t)
		require.Equal(t, problems.InvalidRequest, p.Code)
		require.Equal(t, c.field, p.Field, c.query)
		require.Contains(t, p.Detail, c.detail, c.query)
	}
}

func TestEveryV1RouteNeedsTheToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	id := envelope.NewID()
	b.lifecycle(id, runs.Spec{Agent: "fake", Prompt: "p", Workspace: "/w"})
	requests := []struct{ method, path, body string }{
		{http.MethodPost, "/v1/runs", `{"agent":"fake","prompt":"p","workspace":"/w"}`},
		{http.MethodGet, "/v1/runs", ""},
		{http.MethodGet, "/v1/runs/" + id, ""},
		{http.MethodGet, "/v1/runs/" + id + "/events?follow=false", ""},
		{http.MethodGet, "/v1/nothing-here", ""},
	}
	auths := map[string]string{
		"missing":      "",
		"wrong token":  "Bearer " + testToken + "x",
		"prefix":       "Bearer " + testToken[:10],
		"other scheme": "Basic " + testToken,
		"no scheme":    testToken,
	}
	for _, r := range requests {
		for name, auth := range auths {
			var body []byte
			if r.body != "" {
				body = []byte(r.body)
			}
			req := b.request(r.method, r.path, body)
			req.Header.Del("Authorization")
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res := b.do(req)
			require.Equal(t, http.StatusUnauthorized, res.status, "%s %s with %s auth", r.method, r.path, name)
			require.Equal(t, problems.Unauthorized, res.problem(t).Code)
			require.Equal(t, `Bearer realm="phantom"`, res.header.Get("WWW-Authenticate"))
		}
	}
	require.Zero(t, b.commandsPublished(), "an unauthenticated submit must publish nothing")
	// The scheme is case-insensitive.
	req := b.request(http.MethodGet, "/v1/runs/"+id, nil)
	req.Header.Set("Authorization", "bearer "+testToken)
	require.Equal(t, http.StatusOK, b.do(req).status)
}

func TestUnknownPathsAndMethodsAreProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.get("/v1/nothing-here")
	require.Equal(t, http.StatusNotFound, res.status)
	require.Equal(t, problems.NotFound, res.problem(t).Code)

	res = b.do(b.request(http.MethodDelete, "/v1/runs", nil))
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	require.ElementsMatch(t, []string{"GET", "POST"}, res.header.Values("Allow"))
	require.Equal(t, problems.InvalidRequest, res.problem(t).Code)

	res = b.do(b.request(http.MethodPost, "/v1/runs/"+envelope.NewID()+"/events", []byte("{}")))
	require.Equal(t, http.StatusMethodNotAllowed, res.status)
	require.Equal(t, []string{"GET"}, res.header.Values("Allow"))
}

func TestRequestsAreMeasuredByRoutePattern(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 3 {
		b.get("/v1/runs/" + envelope.NewID())
	}
	b.get("/v1/runs")
	require.Equal(t, 3.0, testutil.ToFloat64(counter(t, b, "GET", "GET /v1/runs/{id}", "404")))
	require.Equal(t, 1.0, testutil.ToFloat64(counter(t, b, "GET", "GET /v1/runs", "200")))
	n, err := testutil.GatherAndCount(b.reg, "phantom_gateway_http_request_duration_seconds")
	require.NoError(t, err)
	require.Equal(t, 2, n, "one latency series per method and route")
}
