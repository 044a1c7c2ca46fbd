// Package guardtest serves, for tests, the runner's side of the hook's
// relay contract: a unix socket that takes one JSON rpc.GuardCheckRequest
// line, stamps the run on it and asks phantom.rpc.guard.check, and answers
// one JSON rpc.GuardCheckReply line ({"error": ...} when it cannot ask). The
// runner serves the real one for every run (PHANTOM_GUARD_SOCKET).
package guardtest

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/guardclient"
)

// Relay is a relay socket serving until the test ends.
type Relay struct {
	// Path is the socket, for PHANTOM_GUARD_SOCKET.
	Path string

	mu       sync.Mutex
	requests []rpc.GuardCheckRequest
	down     bool
}

// Serve relays checks to the safety guard on nc, stamped with runID and attempt.
func Serve(t testing.TB, nc *nats.Conn, runID string, attempt int) *Relay {
	t.Helper()
	// Unix socket paths are short (108 bytes): not under t.TempDir().
	dir, err := os.MkdirTemp("", "guard")
	if err != nil {
		t.Fatalf("could not make the relay's directory: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	r := &Relay{Path: filepath.Join(dir, "relay.sock")}
	l, err := net.Listen("unix", r.Path)
	if err != nil {
		t.Fatalf("could not listen on %s: %v", r.Path, err)
	}
	var conns sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); conns.Wait() })
	client := guardclient.New(nc)
	conns.Add(1)
	go func() {
		defer conns.Done()
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				r.answer(conn, client, runID, attempt)
			}()
		}
	}()
	return r
}

func (r *Relay) answer(conn net.Conn, client *guardclient.Client, runID string, attempt int) {
	defer conn.Close()
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return
	}
	var req rpc.GuardCheckRequest
	var reply rpc.GuardCheckReply
	if err := json.Unmarshal(line, &req); err != nil {
		reply.Error = "could not decode the request: " + err.Error()
	} else {
		req.RunID, req.Attempt, req.Origin = runID, attempt, rpc.GuardOriginHook
		r.mu.Lock()
		r.requests = append(r.requests, req)
		down := r.down
		r.mu.Unlock()
		if down {
			reply.Error = "could not reach NATS: connection closed"
		} else if res, err := client.Check(context.Background(), req); err != nil {
			reply.Error = err.Error()
		} else {
			reply = res
		}
	}
	out, _ := json.Marshal(reply)
	_, _ = conn.Write(append(out, '\n'))
}

// Requests returns the requests received so far, stamped.
func (r *Relay) Requests() []rpc.GuardCheckRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]rpc.GuardCheckRequest(nil), r.requests...)
}

// SetDown makes the relay answer only errors, as a runner that lost NATS.
func (r *Relay) SetDown(down bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.down = down
}
