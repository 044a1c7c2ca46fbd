// Package guardclient asks the safety guard whether a shell command may run.
// It is a client of phantom.rpc.guard.check (core NATS request/reply,
// answered by the safety-guard service, which chooses the policies that
// apply and audits a decision about a run), plus what a requester sends with
// a check: the environment the engine judges with, the rule files found where
// the command runs, and an argv written as the command line the engine parses.
//
//	c := guardclient.New(nc)
//	reply, err := c.Check(guardclient.WithRun(ctx, runID, attempt), rpc.GuardCheckRequest{
//		Command: guardclient.ShellJoin("git", "-C", dir, "status"), Cwd: dir, Origin: rpc.GuardOriginWorktree,
//	})
//	if err != nil { ... the guard could not be asked: the command must not run ... }
//	if reply.Decision != guard.Allow { ... reply.Rule, reply.Reason ... }
//
// The client holds no engine: when the service cannot be asked, Check
// returns an error and the caller fails closed. Only binaries that answer an
// agent's hook judge in process (services/safety-guard/hookcmd).
package guardclient

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/tracing"
)

// DefaultTimeout bounds one request to the service. The service answers in
// about a millisecond; a longer silence means it is not there.
const DefaultTimeout = 2 * time.Second

// Client asks the safety-guard service. It is safe for concurrent use.
type Client struct {
	nc      *nats.Conn
	timeout time.Duration
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

// New returns a client on nc.
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{nc: nc, timeout: DefaultTimeout}
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

// Check asks the service about one command. The error says why the service
// could not be asked or answered no decision; the command must then not run.
func (c *Client) Check(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	if req.RunID == "" {
		if id, attempt, ok := RunFrom(ctx); ok {
			req.RunID, req.Attempt = id, attempt
		}
	}
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
	if reply.Decision != guard.Allow && reply.Decision != guard.Block {
		return rpc.GuardCheckReply{}, fmt.Errorf("the safety guard answered decision %q", reply.Decision)
	}
	return reply, nil
}
