package testenv

import (
	"encoding/json"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// Guard answers phantom.rpc.guard.check in place of the safety-guard
// service, for the tests of services that ask it (the engine and the service
// are tested in services/safety-guard). It records every request and answers
// with its judge, which allows every command until Judge replaces it.
type Guard struct {
	mu       sync.Mutex
	requests []rpc.GuardCheckRequest
	judge    func(rpc.GuardCheckRequest) rpc.GuardCheckReply
}

// StartGuard answers guard checks on nc, in the service's queue group, until
// the test ends. It returns once the subscription is in place.
func StartGuard(t testing.TB, nc *nats.Conn) *Guard {
	t.Helper()
	g := &Guard{judge: func(rpc.GuardCheckRequest) rpc.GuardCheckReply { return rpc.GuardCheckReply{Decision: guard.Allow} }}
	sub, err := nc.QueueSubscribe(subjects.GuardCheck, subjects.GuardQueueGroup, func(m *nats.Msg) {
		var req rpc.GuardCheckRequest
		reply := rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleInvalidRequest, Error: "the test guard could not decode the request"}
		if err := json.Unmarshal(m.Data, &req); err == nil {
			g.mu.Lock()
			g.requests = append(g.requests, req)
			judge := g.judge
			g.mu.Unlock()
			reply = judge(req)
		}
		data, _ := json.Marshal(reply)
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatalf("could not answer guard checks: %v", err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatalf("could not answer guard checks: %v", err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	return g
}

// Judge makes fn decide every later request.
func (g *Guard) Judge(fn func(rpc.GuardCheckRequest) rpc.GuardCheckReply) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.judge = fn
}

// Requests returns the requests received so far, in order.
func (g *Guard) Requests() []rpc.GuardCheckRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]rpc.GuardCheckRequest(nil), g.requests...)
}
