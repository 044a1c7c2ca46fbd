// Package httpapi is the gateway's HTTP port: the /v1 API over net/http's
// ServeMux, with bearer authentication, RFC 9457 problem documents, request
// logs, Prometheus metrics and W3C trace context.
//
// # Adding an endpoint group
//
// An endpoint group is one file with a type whose Routes method lists its
// routes; the type gets what it needs from Deps. Register it in
// (*API).groups, the one place that lists groups, and describe every route
// in contracts/openapi.yaml under the route's OperationID: a test fails when
// a registered route is missing from the document or the document lists a
// route that is not registered. Every route is authenticated unless it says
// Public; every route is logged and measured under its pattern.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// Route is one endpoint.
type Route struct {
	// Method and Pattern make the ServeMux pattern "METHOD PATTERN". The
	// pattern's {name} wildcards are written as OpenAPI writes them.
	Method  string
	Pattern string
	// OperationID is the route's operationId in contracts/openapi.yaml.
	OperationID string
	Handler     http.HandlerFunc
	// Public routes skip authentication.
	Public bool
	// Streaming routes hold the response open (SSE): they are counted but
	// kept out of the latency histogram.
	Streaming bool
}

// Group is a set of routes that belong together (runs, run events, ...).
type Group interface {
	Routes() []Route
}

// Limits bound what one request may cost.
type Limits struct {
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64
	// Heartbeat is the interval of SSE comments on an idle stream.
	Heartbeat time.Duration
	// MaxStreams bounds the event streams open at once.
	MaxStreams int
	// WriteTimeout bounds each write to a client (SSE included).
	WriteTimeout time.Duration
}

// Deps is everything the groups use. A new group adds its use cases here.
type Deps struct {
	// Token is the bearer token every non-public route requires.
	Token  string
	Logger *slog.Logger
	// Metrics is where the API registers its collectors.
	Metrics prometheus.Registerer
	Limits  Limits
	// Stopping ends when the host shuts down: open streams end with it.
	Stopping context.Context

	Submit *command.Submit
	Runs   *query.Runs
	Events *query.Events

	// Safety guard: its decisions and its policies.
	Guard         *query.Guard
	GuardPolicies *command.GuardPolicies
	// Agents and AgentReads steer and show agents: sessions,
	// pause/resume, capabilities, conversations, messages, tool calls, usage.
	Agents     *command.Agents
	AgentReads *query.Agents
	// The scheduler's area.
	SchedulerView *query.SchedulerView
	Cancel        *command.Cancel
	Rerun         *command.Rerun
	Profiles      *command.Profiles
}

// API is the HTTP API.
type API struct {
	deps    Deps
	routes  []Route
	mux     *http.ServeMux
	handler http.Handler
	metrics *metrics
	// streams is a semaphore bounding open event streams.
	streams chan struct{}
}

// catchAll is the pattern answering every /v1 path no route matches.
const catchAll = "/v1/"

// New assembles the API from its groups.
func New(d Deps) (*API, error) {
	if d.Token == "" {
		return nil, errors.New("the API needs a bearer token")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	if d.Stopping == nil {
		d.Stopping = context.Background()
	}
	m, err := newMetrics(d.Metrics)
	if err != nil {
		return nil, err
	}
	a := &API{deps: d, mux: http.NewServeMux(), metrics: m, streams: make(chan struct{}, max(d.Limits.MaxStreams, 1))}
	for _, g := range a.groups() {
		for _, r := range g.Routes() {
			a.routes = append(a.routes, r)
			a.mux.Handle(r.Method+" "+r.Pattern, a.route(r))
		}
	}
	a.mux.Handle(catchAll, a.route(Route{Pattern: catchAll, Handler: a.unmatched}))
	a.handler = a.observe(a.mux)
	return a, nil
}

// groups lists every endpoint group: the one place a new group is added.
func (a *API) groups() []Group {
	return []Group{
		&runsGroup{api: a, submit: a.deps.Submit, runs: a.deps.Runs},
		&runEventsGroup{api: a, events: a.deps.Events},
		&guardGroup{api: a, guard: a.deps.Guard, policies: a.deps.GuardPolicies},
		// Agents, sessions, conversations.
		&agentsGroup{api: a, read: a.deps.AgentReads, control: a.deps.Agents},
		&sessionsGroup{api: a, control: a.deps.Agents},
		&conversationsGroup{api: a, read: a.deps.AgentReads, control: a.deps.Agents},
		&schedulerGroup{api: a, view: a.deps.SchedulerView, cancel: a.deps.Cancel, rerun: a.deps.Rerun, profiles: a.deps.Profiles},
	}
}

// Routes returns every registered route, in registration order.
func (a *API) Routes() []Route { return append([]Route(nil), a.routes...) }

// ServeHTTP serves the API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// methods are those a 405 answer may list as allowed.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// unmatched answers a /v1 path that no route takes: 405 with Allow when
// the path exists for other methods, else 404, both as problem documents
// (ServeMux's own answers are plain text).
func (a *API) unmatched(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range methods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != catchAll {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		for _, m := range allowed {
			w.Header().Add("Allow", m)
		}
		writeProblem(w, http.StatusMethodNotAllowed, problems.InvalidRequest, "", "method "+r.Method+" is not allowed here", "")
		return
	}
	writeProblem(w, http.StatusNotFound, problems.NotFound, "", "no such endpoint: "+r.URL.Path, "")
}
