// Package guard is how any part of Phantom asks the safety guard about a
// shell command: a client of phantom.rpc.guard.check (core NATS
// request/reply, answered by the safety-guard service) that judges in
// process with the same engine when the service cannot be reached, and the
// pieces the service and the hook share (how policies combine, which rule
// files apply where a command runs, which environment the engine needs).
//
//	c := guard.New(nc)
//	res, err := c.Check(guard.WithRun(ctx, runID, attempt), rpc.GuardCheckRequest{
//		Command: prelude, Cwd: dir, Origin: rpc.GuardOriginRunner,
//	})
//	if res.Decision == cguard.Block { ... res.Rule, res.Reason ... }
//
// A decision about a run (the request, or ctx through WithRun, names it) is
// recorded by the service as run.policy_audit.
package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	cguard "github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/tracing"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// DefaultTimeout bounds one request to the service. The service answers in
// about a millisecond; a longer silence means it is not there.
const DefaultTimeout = 2 * time.Second

// Result is a decision and how it was reached.
type Result struct {
	rpc.GuardCheckReply
	// Local is true when the service could not be reached and the command
	// was judged in this process (without the policies the service holds).
	Local bool
	// Unreachable is why the service could not be reached, when Local.
	Unreachable error
}

// Blocked reports whether the command must not run.
func (r Result) Blocked() bool { return r.Decision != cguard.Allow }

// Client asks the safety-guard service. It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
	local   *policy.Engine
}

// Option configures a Client.
type Option func(*Client)

// WithTimeout bounds each request to the service (DefaultTimeout if d <= 0).
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithoutLocalFallback makes Check return an error when the service cannot
// be reached, instead of judging in process.
func WithoutLocalFallback() Option { return func(c *Client) { c.local = nil } }

// New returns a client on nc. By default a service that cannot be reached is
// replaced by the engine in process (blocking outright in strict mode).
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{nc: nc, timeout: DefaultTimeout, local: policy.New()}
	for _, o := range opts {
		o(c)
	}
	return c
}

type runKey struct{}

type runRef struct {
	id      string
	attempt int
}

// WithRun returns a context whose checks are about one attempt of a run:
// Check stamps requests that name no run, so the decision is audited on it.
func WithRun(ctx context.Context, runID string, attempt int) context.Context {
	return context.WithValue(ctx, runKey{}, runRef{id: runID, attempt: attempt})
}

// RunFrom returns the run WithRun put in ctx.
func RunFrom(ctx context.Context) (runID string, attempt int, ok bool) {
	r, ok := ctx.Value(runKey{}).(runRef)
	return r.id, r.attempt, ok
}

// Check judges one command. The error is set only when the service could not
// be reached and the client has no local fallback.
func (c *Client) Check(ctx context.Context, req rpc.GuardCheckRequest) (Result, error) {
	if req.RunID == "" {
		if id, attempt, ok := RunFrom(ctx); ok {
			req.RunID, req.Attempt = id, attempt
		}
	}
	reply, err := c.ask(ctx, req)
	if err == nil {
		return Result{GuardCheckReply: reply}, nil
	}
	if c.local == nil {
		return Result{}, err
	}
	return JudgeLocally(ctx, c.local, req, err), nil
}

func (c *Client) ask(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not encode the guard request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	msg := nats.NewMsg(subjects.GuardCheck)
	msg.Data = data
	if tp, ts := tracing.TraceParent(ctx); tp != "" {
		msg.Header.Set("traceparent", tp)
		if ts != "" {
			msg.Header.Set("tracestate", ts)
		}
	}
	resp, err := c.nc.RequestMsgWithContext(ctx, msg)
	if err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not reach the safety guard on %s: %w", subjects.GuardCheck, err)
	}
	var reply rpc.GuardCheckReply
	if err := json.Unmarshal(resp.Data, &reply); err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not read the safety guard's answer: %w", err)
	}
	if reply.Decision != cguard.Allow && reply.Decision != cguard.Block {
		return rpc.GuardCheckReply{}, fmt.Errorf("the safety guard answered decision %q", reply.Decision)
	}
	return reply, nil
}

// JudgeLocally is the decision when the service could not be reached (why):
// in strict mode the command is blocked; otherwise the engine judges it in
// process, under the request's own mode and rule files only.
func JudgeLocally(ctx context.Context, eng *policy.Engine, req rpc.GuardCheckRequest, why error) Result {
	res := Result{Local: true, Unreachable: why}
	preq, names, err := Resolve(req, cguard.ModeDefault, nil)
	res.Mode, res.Policies = preq.Mode.String(), names
	switch {
	case err != nil:
		res.Decision, res.Rule, res.Reason = cguard.Block, cguard.RuleInvalidPolicy, err.Error()
	case preq.Mode.Has(cguard.ModeStrict):
		res.Decision, res.Rule = cguard.Block, cguard.RuleUnavailable
		res.Reason = "The safety guard could not be reached and strict mode fails closed: " + errorText(why)
	default:
		d := eng.Check(ctx, preq)
		res.Decision, res.Rule, res.Segment, res.Reason = d.Decision, d.Rule, d.Segment, d.Reason
	}
	return res
}

func errorText(err error) string {
	if err == nil {
		return "no answer"
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "it did not answer in time"
	}
	return err.Error()
}
