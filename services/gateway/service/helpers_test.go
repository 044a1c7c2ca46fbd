package service_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/postgres"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/gateway/service"
)

const testToken = "test-token-0123456789abcdef"

// bundle is one gateway on a real embedded NATS and a fresh Postgres
// database, served by httptest, with the scheduler's and projector's parts
// played by the test.
type bundle struct {
	t    testing.TB
	ctx  context.Context
	nats *testenv.NATS
	db   *pgxpool.Pool
	cfg  service.Config
	svc  *service.Service
	srv  *httptest.Server
	reg  *prometheus.Registry
	// pub publishes as the scheduler and runners would, on their own connection.
	pub *bus.Publisher
	// stopRun ends the service's Run.
	stopRun func()

	doc    *openapi3.T
	router routers.Router
}

func defaultConfig() service.Config {
	return service.Config{
		HTTPAddr:       "",
		Token:          testToken,
		SubmitWait:     2 * time.Second,
		MaxBodyBytes:   1 << 20,
		MaxPromptBytes: 256 << 10,
		MaxStreams:     16,
		SSEHeartbeat:   15 * time.Second,
		WriteTimeout:   10 * time.Second,
		QueryTimeout:   5 * time.Second,
	}
}

func setup(t testing.TB, tune ...func(*service.Config)) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	db, _ := testenv.PostgresPool(t)
	require.NoError(t, postgres.Migrate(ctx, db, readmodel.Migrations()))
	cfg := defaultConfig()
	for _, f := range tune {
		f(&cfg)
	}
	reg := prometheus.NewRegistry()
	env := daemon.Env{
		Name: "gateway", Instance: "test", Logger: testenv.Logger(t),
		Conn: n.Conn, JS: n.JS, DB: db, Metrics: reg, Checks: opshttp.NewChecks(), Streams: streams.DefaultOptions(),
	}
	svc, err := service.New(ctx, cfg, env)
	require.NoError(t, err)
	srv := httptest.NewServer(svc.Handler())
	t.Cleanup(srv.Close)
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		select {
		case err := <-runDone:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of its context ending")
		}
	})

	_, js := n.Connect(t)
	doc, err := openapi3.NewLoader().LoadFromData(contracts.OpenAPI)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(ctx))
	router, err := legacy.NewRouter(doc)
	require.NoError(t, err)
	return &bundle{
		t: t, ctx: ctx, nats: n, db: db, cfg: cfg, svc: svc, srv: srv, reg: reg,
		pub: bus.NewPublisher(js, "phantom/scheduler/test"), stopRun: stopRun, doc: doc, router: router,
	}
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) problems.Problem {
	t.Helper()
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"), "body: %s", r.body)
	var p problems.Problem
	require.NoError(t, json.Unmarshal(r.body, &p))
	require.Equal(t, r.status, p.Status)
	require.Equal(t, problems.TypeURI(p.Code), p.Type)
	require.NotEmpty(t, p.Title)
	return p
}

// request builds an authenticated request to the gateway.
func (b *bundle) request(method, path string, body []byte) *http.Request {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(b.ctx, method, b.srv.URL+path, rd)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// do sends req and checks the answer against contracts/openapi.yaml.
func (b *bundle) do(req *http.Request) response {
	b.t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(b.t, err)
	out := response{status: res.StatusCode, header: res.Header, body: body}
	b.conforms(req, out)
	return out
}

func (b *bundle) get(path string) response { return b.do(b.request(http.MethodGet, path, nil)) }

func (b *bundle) postJSON(path string, v any) response {
	data, err := json.Marshal(v)
	require.NoError(b.t, err)
	return b.do(b.request(http.MethodPost, path, data))
}

// conforms validates a response against the OpenAPI document: its status
// must be documented for the operation, its headers and body must match.
func (b *bundle) conforms(req *http.Request, res response) {
	b.t.Helper()
	route, params, err := b.router.FindRoute(req)
	if err != nil {
		return // not an API route (a 404 or 405 probe)
	}
	require.NotNil(b.t, route.Operation.Responses.Status(res.status),
		"%s %s answered %d, which contracts/openapi.yaml does not document", req.Method, route.Path, res.status)
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.status,
		Header:                 res.header,
		Body:                   io.NopCloser(bytes.NewReader(res.body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
			// An event stream's body is checked frame by frame instead.
			ExcludeResponseBody: strings.HasPrefix(res.header.Get("Content-Type"), "text/event-stream"),
		},
	}
	require.NoError(b.t, openapi3filter.ValidateResponse(b.ctx, in), "response does not match contracts/openapi.yaml: %s", res.body)
}

// conformsTo validates a JSON value against a component schema.
func (b *bundle) conformsTo(schema string, data []byte) {
	b.t.Helper()
	ref, ok := b.doc.Components.Schemas[schema]
	require.True(b.t, ok, "no schema %s", schema)
	var v any
	require.NoError(b.t, json.Unmarshal(data, &v))
	require.NoError(b.t, ref.Value.VisitJSON(v, openapi3.EnableJSONSchema2020()), "%s does not match schema %s", data, schema)
}

// commandsPublished counts every message ever stored in PHANTOM_COMMANDS
// (acknowledged ones included: the stream's last sequence).
func (b *bundle) commandsPublished() uint64 {
	b.t.Helper()
	s, err := b.nats.JS.Stream(b.ctx, streams.Commands)
	require.NoError(b.t, err)
	info, err := s.Info(b.ctx)
	require.NoError(b.t, err)
	return info.State.LastSeq
}

// received is a SubmitRun the fake scheduler got, with its envelope.
type received struct {
	msg bus.Message
	cmd commands.SubmitRun
}

// fakeScheduler plays the scheduler's part of the submit agreement: it
// consumes phantom.cmd.scheduler.submit_run through the durable consumer
// scheduler-commands, appends run.requested, then whatever answer returns.
type fakeScheduler struct {
	mu  sync.Mutex
	got []received
	// cancels are the cancel commands received; onCancel answers them
	// (nil: run.canceled at once).
	cancels  []commands.CancelRun
	onCancel func(commands.CancelRun) events.Payload
}

// cancel answers a cancel as the scheduler does for a queued run.
func (f *fakeScheduler) cancel(msg jetstream.Msg, m bus.Message, pub *bus.Publisher) {
	var cmd commands.CancelRun
	if err := json.Unmarshal(m.Data, &cmd); err != nil {
		_ = msg.Term()
		return
	}
	f.mu.Lock()
	f.cancels = append(f.cancels, cmd)
	answer := f.onCancel
	f.mu.Unlock()
	var ev events.Payload = &events.RunCanceled{RunID: cmd.RunID, Attempt: 1, Reason: cmd.Reason, By: cmd.By}
	if answer != nil {
		ev = answer(cmd)
	}
	if ev != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := pub.Event(ctx, ev, bus.WithAttempt(attemptOf(ev))); err != nil {
			return
		}
	}
	_ = msg.Ack()
}

func (f *fakeScheduler) commands() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

func (b *bundle) startScheduler(answer func(commands.SubmitRun) events.Payload) *fakeScheduler {
	b.t.Helper()
	_, js := b.nats.Connect(b.t)
	cons, err := bus.EnsureConsumer(b.ctx, js, streams.Commands, jetstream.ConsumerConfig{
		Durable:       "scheduler-commands",
		FilterSubject: subjects.ServiceCommands(commands.ServiceScheduler),
	})
	require.NoError(b.t, err)
	pub := bus.NewPublisher(js, "phantom/scheduler/fake")
	f := &fakeScheduler{}
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		m, err := bus.Decode(msg)
		if err != nil {
			_ = msg.Term()
			return
		}
		if m.Type == (commands.CancelRun{}).CommandType() {
			f.cancel(msg, m, pub)
			return
		}
		var cmd commands.SubmitRun
		if err := json.Unmarshal(m.Data, &cmd); err != nil {
			_ = msg.Term()
			return
		}
		f.mu.Lock()
		f.got = append(f.got, received{msg: m, cmd: cmd})
		f.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := pub.Event(ctx, events.RunRequested{RunID: cmd.RunID, Spec: cmd.Spec, RequestedBy: cmd.RequestedBy, RerunOf: cmd.RerunOf}); err != nil {
			return // not acknowledged: redelivered
		}
		if a := answer(cmd); a != nil {
			if _, err := pub.Event(ctx, a, bus.WithAttempt(attemptOf(a))); err != nil {
				return
			}
		}
		_ = msg.Ack()
	})
	require.NoError(b.t, err)
	b.t.Cleanup(cc.Stop)
	return f
}

func attemptOf(p events.Payload) int {
	var a struct {
		Attempt int `json:"attempt"`
	}
	data, _ := json.Marshal(p)
	_ = json.Unmarshal(data, &a)
	return a.Attempt
}

// emit appends an event as its service would and returns its sequence.
func (b *bundle) emit(p events.Payload) uint64 {
	b.t.Helper()
	ack, err := b.pub.Event(b.ctx, p, bus.WithAttempt(attemptOf(p)))
	require.NoError(b.t, err)
	return ack.Sequence
}

// project applies the events with the given sequences to the read model as
// the projector does (contracts/readmodel: status follows the event type,
// times are the events' ce-time, run_events keeps every event).
func (b *bundle) project(seqs ...uint64) {
	b.t.Helper()
	s, err := b.nats.JS.Stream(b.ctx, streams.Events)
	require.NoError(b.t, err)
	for _, seq := range seqs {
		raw, err := s.GetMsg(b.ctx, seq)
		require.NoError(b.t, err)
		env, err := envelope.FromHeader(raw.Header, raw.Data)
		require.NoError(b.t, err)
		p, err := events.Decode(env.Type, env.Data)
		require.NoError(b.t, err)
		b.apply(seq, env, p)
	}
}

func (b *bundle) apply(seq uint64, ev envelope.Envelope, payload events.Payload) {
	b.t.Helper()
	at := ev.Time
	var err error
	switch p := payload.(type) {
	case *events.RunRequested:
		spec, merr := json.Marshal(p.Spec)
		require.NoError(b.t, merr)
		_, err = b.db.Exec(b.ctx, `INSERT INTO runs (id, agent, provider, pool, prompt, workspace, spec, status, priority,
			requested_by, rerun_of, created_at, updated_at, last_seq)
			VALUES ($1,$2,$3,$4,$5,$6,$7,'requested',$8,NULLIF($9,''),NULLIF($10,''),$11,$11,$12)`,
			p.RunID, p.Spec.Agent, p.Spec.ProviderOrAgent(), p.Spec.PoolOrDefault(), p.Spec.Prompt, p.Spec.Workspace,
			spec, p.Spec.PriorityOrZero(), p.RequestedBy, p.RerunOf, at, int64(seq))
	case *events.RunQueued:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='queued', attempt=$2, queued_at=$3, updated_at=$3, last_seq=$4 WHERE id=$1`, p.RunID, p.Attempt, at, int64(seq))
	case *events.RunRejected:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='rejected', reason=$2, message=$3, finished_at=$4, updated_at=$4, last_seq=$5 WHERE id=$1`, p.RunID, p.Reason, p.Message, at, int64(seq))
	case *events.RunDispatched:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='dispatched', attempt=$2, dispatched_at=$3, updated_at=$3, last_seq=$4 WHERE id=$1`, p.RunID, p.Attempt, at, int64(seq))
	case *events.RunStarted:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='running', runner_id=$2, host=$3, pid=$4, cwd=$5, started_at=$6, updated_at=$6, last_seq=$7 WHERE id=$1`, p.RunID, p.RunnerID, p.Host, p.PID, p.Cwd, at, int64(seq))
	case *events.RunCompleted:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='completed', exit_code=$2, result=NULLIF($3,''), finished_at=$4, updated_at=$4, last_seq=$5 WHERE id=$1`, p.RunID, p.ExitCode, p.Result, at, int64(seq))
	case *events.RunFailed:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='failed', reason=$2, message=$3, exit_code=$4, finished_at=$5, updated_at=$5, last_seq=$6 WHERE id=$1`, p.RunID, p.Reason, p.Message, p.ExitCode, at, int64(seq))
	case *events.RunCanceled:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET status='canceled', reason=NULLIF($2,''), finished_at=$3, updated_at=$3, last_seq=$4 WHERE id=$1`, p.RunID, p.Reason, at, int64(seq))
	case *events.RunArchived:
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET archived=true, updated_at=$2, last_seq=$3 WHERE id=$1`, p.RunID, at, int64(seq))
	default:
		runID, _ := events.RunIDOf(p)
		_, err = b.db.Exec(b.ctx, `UPDATE runs SET updated_at=$2, last_seq=$3 WHERE id=$1`, runID, at, int64(seq))
	}
	require.NoError(b.t, err)
	runID, _ := events.RunIDOf(payload)
	attempt, _ := strconv.Atoi(ev.Extensions["attempt"])
	_, err = b.db.Exec(b.ctx, `INSERT INTO run_events (seq, id, run_id, type, source, attempt, time, data)
		VALUES ($1,$2,$3,$4,$5,NULLIF($6,0),$7,$8)`, int64(seq), ev.ID, runID, ev.Type, ev.Source, attempt, at, ev.Data)
	require.NoError(b.t, err)
}

// sseFrame is one SSE message as a client parses it.
type sseFrame struct {
	id, event, data string
}

// sseClient reads an event stream the way EventSource does.
type sseClient struct {
	t        testing.TB
	b        *bundle
	res      *http.Response
	sc       *bufio.Scanner
	comments int
	cancel   context.CancelFunc
}

// openEvents opens a run's event stream. lastEventID is sent when not empty.
func (b *bundle) openEvents(runID, rawQuery, lastEventID string) *sseClient {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	path := "/v1/runs/" + runID + "/events"
	if rawQuery != "" {
		path += "?" + rawQuery
	}
	req := b.request(http.MethodGet, path, nil).WithContext(ctx)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(b.t, err)
	c := &sseClient{t: b.t, b: b, res: res, sc: bufio.NewScanner(res.Body), cancel: cancel}
	c.sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	b.t.Cleanup(c.close)
	if res.StatusCode == http.StatusOK {
		require.Equal(b.t, "text/event-stream", res.Header.Get("Content-Type"))
		b.conforms(req, response{status: res.StatusCode, header: res.Header})
	}
	return c
}

func (c *sseClient) close() {
	c.cancel()
	_ = c.res.Body.Close()
}

// next returns the next frame, skipping comments; io.EOF when the server
// ended the response.
func (c *sseClient) next() (sseFrame, error) {
	var f sseFrame
	for c.sc.Scan() {
		line := c.sc.Text()
		switch {
		case line == "":
			if f.data != "" || f.id != "" || f.event != "" {
				return f, nil
			}
		case strings.HasPrefix(line, ":"):
			c.comments++
		case strings.HasPrefix(line, "id: "):
			f.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			f.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			f.data = strings.TrimPrefix(line, "data: ")
		default:
			return f, errors.New("unexpected SSE line: " + line)
		}
	}
	if err := c.sc.Err(); err != nil {
		return f, err
	}
	return f, io.EOF
}

// event reads the next frame and checks its framing and schema.
func (c *sseClient) event() api.RunEvent {
	c.t.Helper()
	f, err := c.next()
	require.NoError(c.t, err)
	require.Equal(c.t, api.RunEventName, f.event)
	var ev api.RunEvent
	require.NoError(c.t, json.Unmarshal([]byte(f.data), &ev))
	require.Equal(c.t, strconv.FormatUint(ev.Seq, 10), f.id, "the SSE id must be the stream sequence")
	c.b.conformsTo("RunEvent", []byte(f.data))
	return ev
}

// ended asserts the server ends the response now.
func (c *sseClient) ended() {
	c.t.Helper()
	f, err := c.next()
	require.ErrorIs(c.t, err, io.EOF, "expected the stream to end, got frame %+v", f)
}

// counter returns the request counter of one label set, read back from the
// bundle's registry.
func counter(t *testing.T, b *bundle, method, route, code string) prometheus.Collector {
	t.Helper()
	families, err := b.reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != "phantom_gateway_http_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["method"] == method && labels["route"] == route && labels["code"] == code {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x", Help: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	t.Fatalf("no request counter for %s %s %s", method, route, code)
	return nil
}
