// Package guardrelay serves one attempt's guard socket: the agent's
// PreToolUse hook (`<phantom> guard hook`, run by the CLI) connects to the
// unix socket named by PHANTOM_GUARD_SOCKET, writes one JSON line (an
// rpc.GuardCheckRequest) and reads one JSON line back (an
// rpc.GuardCheckReply). The relay overwrites the request's runId, attempt and
// origin ("hook") with what the runner knows, so that an agent cannot speak
// for another run, and forwards it to phantom.rpc.guard.check over NATS with
// a short timeout. When NATS fails the reply carries only "error", so that
// the hook judges locally. The agent never gets NATS credentials: the socket
// is its only way to the safety guard, and it lives in the attempt's private
// directory (0700). Server serves these sockets for the runner's attempts
// (command.GuardSockets); NATS asks the safety guard (command.Guard).
package guardrelay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/runner/internal/app/command"
)

// SocketEnv is the variable that tells the hook where the socket is.
const SocketEnv = "PHANTOM_GUARD_SOCKET"

// Origin is what the relay sets as the request's origin.
const Origin = "hook"

// maxRequest bounds one request line.
const maxRequest = 1 << 20

// NATS asks phantom.rpc.guard.check.
type NATS struct{ NC *nats.Conn }

// Check implements command.Guard.
func (n NATS) Check(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	var reply rpc.GuardCheckReply
	data, err := json.Marshal(req)
	if err != nil {
		return reply, fmt.Errorf("could not encode the guard request: %w", err)
	}
	msg, err := n.NC.RequestWithContext(ctx, subjects.GuardCheck, data)
	if err != nil {
		return reply, fmt.Errorf("the safety guard did not answer: %w", err)
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return reply, fmt.Errorf("could not decode the guard reply: %w", err)
	}
	return reply, nil
}

// Server serves the sockets of the runner's attempts, each relaying to
// the safety guard (Checker) within Timeout.
type Server struct {
	Checker command.Guard
	Timeout time.Duration
	Log     *slog.Logger
}

// Serve implements command.GuardSockets: Start for one attempt.
func (s Server) Serve(dir, runID string, attempt int) (command.GuardSocket, error) {
	return Start(dir, runID, attempt, s.Checker, s.Timeout, s.Log.With("run", runID, "attempt", attempt))
}

// Relay is one attempt's socket.
type Relay struct {
	path    string
	ln      net.Listener
	runID   string
	attempt int
	checker command.Guard
	timeout time.Duration
	log     *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start listens on dir/guard.sock for the attempt.
func Start(dir, runID string, attempt int, checker command.Guard, timeout time.Duration, log *slog.Logger) (*Relay, error) {
	path := filepath.Join(dir, "guard.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("could not listen on the guard socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("could not protect the guard socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Relay{path: path, ln: ln, runID: runID, attempt: attempt, checker: checker, timeout: timeout, log: log, ctx: ctx, cancel: cancel}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Path is the socket's path (the value of PHANTOM_GUARD_SOCKET).
func (r *Relay) Path() string { return r.path }

// Env is the agent's variable that names the socket: SocketEnv=Path.
func (r *Relay) Env() string { return SocketEnv + "=" + r.path }

// Close stops accepting, ends requests in flight and waits for them.
func (r *Relay) Close() error {
	r.cancel()
	err := r.ln.Close()
	r.wg.Wait()
	_ = os.Remove(r.path)
	return err
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		conn, err := r.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.log.Warn("guard socket stopped accepting", "error", err)
			}
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer conn.Close()
			r.serve(conn)
		}()
	}
}

func (r *Relay) serve(conn net.Conn) {
	_ = conn.SetDeadline(time.Now().Add(r.timeout + 5*time.Second))
	reply := r.answer(conn)
	data, _ := json.Marshal(reply)
	if _, err := conn.Write(append(data, '\n')); err != nil {
		r.log.Debug("could not answer the hook", "error", err)
	}
}

func (r *Relay) answer(conn net.Conn) rpc.GuardCheckReply {
	line, err := bufio.NewReaderSize(&limited{r: conn, n: maxRequest}, 64<<10).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return rpc.GuardCheckReply{Error: "could not read the request: " + err.Error()}
	}
	var req rpc.GuardCheckRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return rpc.GuardCheckReply{Error: "the request is not a guard check: " + err.Error()}
	}
	req.RunID, req.Attempt, req.Origin = r.runID, r.attempt, Origin
	ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
	defer cancel()
	reply, err := r.checker.Check(ctx, req)
	if err != nil {
		return rpc.GuardCheckReply{Error: err.Error()}
	}
	return reply
}

// limited reads at most n bytes.
type limited struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("request longer than 1 MiB")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// Ask is the hook's side: one request on the socket, one reply.
func Ask(ctx context.Context, socket string, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	var reply rpc.GuardCheckReply
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return reply, fmt.Errorf("could not reach the guard socket %s: %w", socket, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	data, err := json.Marshal(req)
	if err != nil {
		return reply, err
	}
	if _, err := conn.Write(append(data, '\n')); err != nil {
		return reply, fmt.Errorf("could not send the guard request: %w", err)
	}
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return reply, fmt.Errorf("could not read the guard reply: %w", err)
	}
	if err := json.Unmarshal(line, &reply); err != nil {
		return reply, fmt.Errorf("could not decode the guard reply: %w", err)
	}
	return reply, nil
}
