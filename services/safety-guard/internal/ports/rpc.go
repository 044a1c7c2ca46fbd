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
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/tracing"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/hook"
)

// Judge decides on one command.
type Judge interface {
	Check(ctx context.Context, r policy.Request) policy.Decision
}

// Deps are the handler's collaborators.
type Deps struct {
	Engine    Judge
	Mode      policy.Mode
	Rules     []policy.CustomRule
	Publisher *bus.Publisher
	Logger    *slog.Logger
	Metrics   prometheus.Registerer
}

// Handler answers guard checks.
type Handler struct {
	d         Deps
	decisions *prometheus.CounterVec
	latency   prometheus.Histogram
	audits    sync.WaitGroup
}

// NewHandler registers the handler's metrics and returns it.
func NewHandler(d Deps) (*Handler, error) {
	h := &Handler{
		d: d,
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_guard_decisions_total", Help: "Decisions by outcome and rule.",
		}, []string{"decision", "rule"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "phantom_guard_decision_seconds", Help: "Time to judge one command.",
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

// Serve subscribes in the queue group and answers until ctx ends. Audits
// still being appended are awaited before it returns.
func (h *Handler) Serve(ctx context.Context, nc *nats.Conn) error {
	sub, err := nc.QueueSubscribe(subjects.GuardCheck, subjects.GuardQueueGroup, func(m *nats.Msg) { h.handle(ctx, m) })
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
	h.audits.Wait()
	return nil
}

func (h *Handler) handle(ctx context.Context, m *nats.Msg) {
	var req rpc.GuardCheckRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		h.reply(m, rpc.GuardCheckReply{Decision: policy.Block, Rule: "request.invalid", Reason: "the guard could not read the request", Error: "could not decode the request: " + err.Error()})
		return
	}
	mode := h.d.Mode
	if req.Mode != "" {
		m2, err := policy.ParseMode(req.Mode)
		if err != nil {
			h.reply(m, rpc.GuardCheckReply{Decision: policy.Block, Rule: "request.invalid", Reason: "unknown policy mode", Error: "mode: " + err.Error()})
			return
		}
		mode = m2
	}
	start := time.Now()
	d := h.d.Engine.Check(ctx, policy.Request{Command: req.Command, Cwd: req.Cwd, Env: req.Env, Mode: mode, Rules: h.d.Rules})
	h.latency.Observe(time.Since(start).Seconds())
	h.decisions.WithLabelValues(d.Decision, d.Rule).Inc()
	h.reply(m, rpc.GuardCheckReply{Decision: d.Decision, Rule: d.Rule, Segment: d.Segment, Reason: d.Reason})
	if req.RunID != "" && subjects.ValidToken(req.RunID) {
		h.audit(tracing.Extract(ctx, m.Header), req, mode, d)
	}
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
func (h *Handler) audit(ctx context.Context, req rpc.GuardCheckRequest, mode policy.Mode, d policy.Decision) {
	ev := events.RunPolicyAudit{
		RunID: req.RunID, Attempt: req.Attempt, Command: hook.Redact(req.Command), Cwd: req.Cwd,
		Decision: d.Decision, Rule: d.Rule, Segment: hook.Redact(d.Segment), Reason: d.Reason,
		Mode: mode.String(), Origin: req.Origin,
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
