// Package natsin answers the worktree requests addressed to this host over
// core NATS request/reply (phantom.rpc.worktree.<host>.<verb>), in the queue
// group worktree-<host> so that replicas on one host share them.
package natsin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/tracing"
)

// Worktrees is what requests are answered with.
type Worktrees interface {
	Prepare(ctx context.Context, req rpc.WorktreePrepareRequest) rpc.WorktreePrepareReply
	Remove(ctx context.Context, req rpc.WorktreeRemoveRequest) rpc.WorktreeRemoveReply
}

// QueueGroup is the queue group of a host's worktree services.
func QueueGroup(host string) string { return "worktree-" + host }

// Server answers worktree requests.
type Server struct {
	nc       *nats.Conn
	host     string
	w        Worktrees
	log      *slog.Logger
	sem      chan struct{}
	requests *prometheus.CounterVec
}

// New returns a server answering at most concurrency requests at once.
func New(nc *nats.Conn, host string, w Worktrees, log *slog.Logger, concurrency int, reg prometheus.Registerer) (*Server, error) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "phantom_worktree_requests_total",
		Help: "Worktree requests answered, by verb and outcome code (ok when it succeeded).",
	}, []string{"verb", "code"})
	if err := reg.Register(requests); err != nil {
		return nil, fmt.Errorf("could not register the worktree metrics: %w", err)
	}
	return &Server{nc: nc, host: host, w: w, log: log, sem: make(chan struct{}, concurrency), requests: requests}, nil
}

// Run answers requests until ctx ends, then stops taking new ones and waits
// for those in progress.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// Requests in progress finish even after ctx ends (a half-made worktree
	// helps nobody); git's own timeout bounds them.
	work := context.WithoutCancel(ctx)
	sub, err := s.nc.QueueSubscribe(subjects.WorktreeHostRPC(s.host), QueueGroup(s.host), func(msg *nats.Msg) {
		// Subscription callbacks run one at a time: hand each request to its
		// own goroutine, bounded, so one slow repository does not hold the rest.
		s.sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-s.sem; wg.Done() }()
			s.handle(tracing.Extract(work, msg.Header), msg)
		}()
	})
	if err != nil {
		return fmt.Errorf("could not subscribe to worktree requests: %w", err)
	}
	if err := s.nc.Flush(); err != nil {
		return fmt.Errorf("could not subscribe to worktree requests: %w", err)
	}
	<-ctx.Done()
	if err := sub.Drain(); err != nil {
		s.log.Warn("could not drain the worktree subscription", "error", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for sub.IsValid() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	wg.Wait()
	return nil
}

// Ready reports whether the server is subscribed.
func (s *Server) Ready() error {
	if !s.nc.IsConnected() {
		return fmt.Errorf("nats is %s", s.nc.Status())
	}
	return nil
}

func (s *Server) handle(ctx context.Context, msg *nats.Msg) {
	verb := msg.Subject[strings.LastIndexByte(msg.Subject, '.')+1:]
	var reply any
	code := "ok"
	switch verb {
	case rpc.WorktreePrepare:
		var req rpc.WorktreePrepareRequest
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			reply, code = rpc.WorktreePrepareReply{Code: rpc.WorktreeCodeFailed, Error: "could not decode the request: " + err.Error()}, rpc.WorktreeCodeFailed
			break
		}
		start := time.Now()
		r := s.w.Prepare(ctx, req)
		if r.Code != "" {
			code = r.Code
			s.log.Info("worktree not prepared", "run", req.RunID, "attempt", req.Attempt, "code", r.Code, "error", r.Error)
		} else {
			s.log.Debug("worktree prepared", "run", req.RunID, "attempt", req.Attempt, "dir", r.Dir, "isolated", r.Isolated, "reused", r.Reused, "took", time.Since(start))
		}
		reply = r
	case rpc.WorktreeRemove:
		var req rpc.WorktreeRemoveRequest
		if err := json.Unmarshal(msg.Data, &req); err != nil {
			reply, code = rpc.WorktreeRemoveReply{Error: "could not decode the request: " + err.Error()}, "error"
			break
		}
		r := s.w.Remove(ctx, req)
		if r.Error != "" {
			code = "error"
		}
		reply = r
	default:
		reply, code = map[string]string{"error": fmt.Sprintf("unknown worktree verb %q (want %s or %s)", verb, rpc.WorktreePrepare, rpc.WorktreeRemove)}, "unknown_verb"
		verb = "unknown" // bounded label values
	}
	s.requests.WithLabelValues(verb, code).Inc()
	b, err := json.Marshal(reply)
	if err != nil {
		s.log.Error("could not encode a worktree reply", "error", err)
		return
	}
	if err := msg.Respond(b); err != nil {
		s.log.Warn("could not answer a worktree request", "subject", msg.Subject, "error", err)
	}
}
