// Package ports is how requests reach the safety-guard: the NATS
// request/reply handler of phantom.rpc.guard.check.
package ports

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/tracing"
	"github.com/phantom-run/phantom/services/safety-guard/internal/policies"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/hook"
)

// Judge decides on one command.
type Judge interface {
	Check(ctx context.Context, r policy.Request) policy.Decision
}

// PolicySource gives the policies that apply to a workspace and profile.
type PolicySource interface {
	Layers(workspace, profile string) []judge.Layer
}

// RunLookup tells which workspace and profile a run was submitted with.
type RunLookup interface {
	Lookup(ctx context.Context, runID string) (policies.RunInfo, error)
}

// Deps are the handler's collaborators.
type Deps struct {
	Engine Judge
	// Mode is the mode when no policy names one.
	Mode guard.Mode
	// Base are the policies of the service's own configuration (its rule
	// file), below every configured scope.
	Base      []judge.Layer
	Policies  PolicySource
	Runs      RunLookup
	Publisher *bus.Publisher
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
}

// maxInFlight bounds the requests judged at once by one replica: a slow
// decision must not hold up the others, and a flood must not exhaust it.
const maxInFlight = 64

// Handler answers guard checks.
type Handler struct {
	d         Deps
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
	slots     chan struct{}
	inFlight  sync.WaitGroup
	audits    sync.WaitGroup
}

// NewHandler registers the handler's metrics and returns it.
func NewHandler(d Deps) (*Handler, error) {
	h := &Handler{
		d:     d,
		slots: make(chan struct{}, maxInFlight),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_guard_decisions_total", Help: "Decisions by outcome and rule.",
		}, []string{"decision", "rule"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phantom_guard_decision_seconds", Help: "Time to choose the policy and judge one command.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025},
		}),
	}
	if d.Metrics != nil {
		for _, c := range []prometheus.Collector{h.decisions, h.latency} {
			if err := d.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("could not register guard metrics: %w", err)
			}
		}
	}
	return h, nil
}

// Serve subscribes in the queue group and answers until ctx ends. Requests
// in hand and audits still being appended are awaited before it returns.
func (h *Handler) Serve(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.QueueSubscribe(subjects.GuardCheck, subjects.GuardQueueGroup, func(m *nats.Msg) {
		h.slots <- struct{}{}
		h.inFlight.Add(1)
		go func() {
			defer func() { <-h.slots; h.inFlight.Done() }()
			h.handle(ctx, m)
		}()
	})
	if err != nil {
		return fmt.Errorf("could not subscribe to %s: %w", subjects.GuardCheck, err)
	}
	h.d.Logger.Info("safety-guard answering", "subject", subjects.GuardCheck, "queue", subjects.GuardQueueGroup)
	<-ctx.Done()
	if err := sub.Drain(); err != nil {
		h.d.Logger.Warn("could not drain the guard subscription", "error", err)
	}
	// Drain returns before in-flight callbacks end; wait for the subscription to close.
	deadline := time.Now().Add(5 * time.Second)
	for sub.IsValid() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	h.inFlight.Wait()
	h.audits.Wait()
	return nil
}

func (h *Handler) handle(ctx context.Context, m *nats.Msg) {
	start := time.Now()
	var req rpc.GuardCheckRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		h.reply(m, invalid("the guard could not read the request", "could not decode the request: "+err.Error()))
		return
	}
	if req.Mode != "" {
		if _, err := guard.ParseMode(req.Mode); err != nil {
			h.reply(m, invalid("unknown policy mode", "mode: "+err.Error()))
			return
		}
	}
	if req.RunID != "" && !subjects.ValidToken(req.RunID) {
		h.reply(m, invalid("the run id is not one Phantom makes", subjects.CheckToken("runId", req.RunID).Error()))
		return
	}
	tctx := tracing.Extract(ctx, m.Header)
	reply, mode := h.judge(tctx, req)
	h.latency.Observe(time.Since(start).Seconds())
	h.decisions.WithLabelValues(reply.Decision, reply.Rule).Inc()
	h.reply(m, reply)
	if req.RunID != "" {
		h.audit(tctx, req, mode, reply)
	}
}

func invalid(reason, err string) rpc.GuardCheckReply {
	return rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleInvalidRequest, Reason: reason, Error: err}
}

// judge chooses the policies that apply to req and decides.
func (h *Handler) judge(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, string) {
	workspace, profile := req.Workspace, req.Profile
	if req.RunID != "" && (workspace == "" || profile == "") {
		info, err := h.d.Runs.Lookup(ctx, req.RunID)
		if err != nil {
			h.d.Logger.Warn("could not choose a run's policy", "run", req.RunID, "error", err)
			return rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleUnavailable,
				Reason: fmt.Sprintf("The safety guard could not read which workspace and profile run %s uses, so it cannot choose the run's policy; try again.", req.RunID)}, ""
		}
		if workspace == "" {
			workspace = info.Workspace
		}
		if profile == "" {
			profile = info.Profile
		}
	}
	layers := append(append([]judge.Layer(nil), h.d.Base...), h.d.Policies.Layers(workspace, profile)...)
	preq, names, err := judge.Resolve(req, h.d.Mode, layers)
	if err != nil {
		return rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleInvalidPolicy, Policies: names,
			Reason: "The safety-guard policy for this command cannot be applied (" + err.Error() + "); every command is blocked until it is fixed."}, ""
	}
	d := h.d.Engine.Check(ctx, preq)
	mode := preq.Mode.String()
	return rpc.GuardCheckReply{Decision: d.Decision, Rule: d.Rule, Segment: d.Segment, Reason: d.Reason, Mode: mode, Policies: names}, mode
}

func (h *Handler) reply(m *nats.Msg, r rpc.GuardCheckReply) {
	data, err := json.Marshal(r)
	if err != nil {
		h.d.Logger.Error("could not encode a guard reply", "error", err)
		return
	}
	if err := m.Respond(data); err != nil {
		h.d.Logger.Warn("could not answer a guard check", "error", err)
	}
}

// audit appends the decision without holding up the next request.
func (h *Handler) audit(ctx context.Context, req rpc.GuardCheckRequest, mode string, d rpc.GuardCheckReply) {
	ev := events.RunPolicyAudit{
		RunID: req.RunID, Attempt: req.Attempt, Command: hook.Redact(req.Command), Cwd: req.Cwd,
		Decision: d.Decision, Rule: d.Rule, Segment: hook.Redact(d.Segment), Reason: hook.Redact(d.Reason),
		Mode: mode, Origin: req.Origin, Agent: req.Agent, Policies: d.Policies,
	}
	h.audits.Add(1)
	go func() {
		defer h.audits.Done()
		// The service's context may be ending; the audit still deserves its retries.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := h.d.Publisher.Event(actx, ev, bus.WithAttempt(req.Attempt)); err != nil {
			h.d.Logger.Error("could not append run.policy_audit", "run", req.RunID, "error", err)
		}
	}()
}
