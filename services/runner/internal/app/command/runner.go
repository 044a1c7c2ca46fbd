// Package command holds the runner's use cases: execute a dispatched attempt
// (prepare its directory, spawn the agent, stream its output, record how it
// ended), cancel an attempt, and drain on shutdown. It owns the runner's
// slots and the table of attempts it holds, and reaches the outside world
// only through its ports (ports.go).
package command

import (
	"context"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/pricing"
)

// Config is the runner's behaviour. Every field is set by the service
// (services/runner/service states the defaults).
type Config struct {
	RunnerID string
	Host     string
	Slots    int
	// ChunkBytes, MaxLineBytes and ChunkInterval shape output chunks.
	ChunkBytes    int
	MaxLineBytes  int
	ChunkInterval time.Duration
	// KillGrace is how long a stopped agent gets before SIGKILL.
	KillGrace time.Duration
	// PrepareTimeout bounds the worktree request.
	PrepareTimeout time.Duration
	// ProgressEvery is how often an unacknowledged dispatch is marked in progress.
	ProgressEvery time.Duration
	// SelfPath is this binary (the fake agent by self-exec); FakeCommand overrides it.
	SelfPath    string
	FakeCommand string
	// Agents are the agent definitions by name.
	Agents map[string]*agents.Definition
	// Environ is the environment agents inherit (os.Environ()).
	Environ []string
	// Prices fill the cost of usage the CLI reports without one.
	Prices pricing.Table
	// Redact removes secrets from everything an attempt publishes.
	Redact Redactor
	// GuardHook is the command Claude Code runs as its PreToolUse hook on
	// Bash ("" injects none); the hook asks through the attempt's socket
	// (Ports.GuardSockets). GuardTimeout bounds a check of the shell prelude.
	GuardHook    string
	GuardTimeout time.Duration
	// Root: the runner runs as root (see harness.Facts).
	Root bool
	// SpawnRetries is how many times a failed spawn is tried again (with backoff).
	SpawnRetries int
}

// preludeTimeout bounds a run's shell prelude.
const preludeTimeout = 2 * time.Minute

// deps are what every attempt works with: the runner's configuration, its
// ports and metrics, never its table of attempts.
type deps struct {
	cfg     Config
	ports   Ports
	metrics *Metrics
}

// Runner executes attempts in a bounded number of slots.
type Runner struct {
	*deps
	log *slog.Logger
	// hard bounds everything an attempt does, drain included: it ends only
	// once the service gives up on the attempts (after the kill grace).
	hard context.Context

	slots chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	attempts map[string]*attempt // by run id
	draining bool
	// handed are the runs a drain handed back.
	handed []string
}

// NewRunner returns a runner. Attempts run within hard.
func NewRunner(hard context.Context, cfg Config, ports Ports, log *slog.Logger, metrics *Metrics) *Runner {
	return &Runner{
		deps: &deps{cfg: cfg, ports: ports, metrics: metrics}, log: log, hard: hard,
		slots: make(chan struct{}, cfg.Slots), attempts: map[string]*attempt{},
	}
}

// AcquireSlot waits for a free slot; false when ctx ended first.
func (r *Runner) AcquireSlot(ctx context.Context) bool {
	select {
	case r.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

// ReleaseSlot frees a slot acquired for a dispatch that will not run.
func (r *Runner) ReleaseSlot() { <-r.slots }

// Start executes a dispatch in the slot acquired for it, in its own goroutine.
// The slot is released when the attempt is over. ctx carries the trace.
func (r *Runner) Start(ctx context.Context, d commands.Dispatch, del Delivery) {
	a := newAttempt(d, del)
	r.mu.Lock()
	if r.draining {
		r.mu.Unlock()
		_ = del.Nak()
		r.ReleaseSlot()
		return
	}
	if prev, ok := r.attempts[d.RunID]; ok {
		r.mu.Unlock()
		r.log.Warn("dispatch of a run already held here", "run", d.RunID, "attempt", d.Attempt, "held", prev.d.Attempt)
		if prev.d.Attempt == d.Attempt {
			// The same attempt delivered again while it runs here: drop it.
			_ = del.Ack()
		} else {
			// Another attempt of the run: it runs once this one is over.
			_ = del.NakWithDelay(time.Second)
		}
		r.ReleaseSlot()
		return
	}
	r.attempts[d.RunID] = a
	r.mu.Unlock()
	r.metrics.running.Inc()
	r.wg.Add(1)
	go func() {
		var outcome string
		defer func() {
			r.mu.Lock()
			delete(r.attempts, d.RunID)
			if outcome == outcomeHandedBack || outcome == outcomeRunnerLost {
				r.handed = append(r.handed, d.RunID)
			}
			r.mu.Unlock()
			r.metrics.running.Dec()
			r.ReleaseSlot()
			r.wg.Done()
		}()
		outcome = execute(ctx, r.hard, r.deps, r.log, a)
	}()
}

// Cancel stops the attempt a command names. A command for another attempt
// than the one running (a stale one) is ignored: false.
func (r *Runner) Cancel(cmd commands.RunnerCancel) bool {
	r.mu.Lock()
	a, ok := r.attempts[cmd.RunID]
	r.mu.Unlock()
	if !ok || a.d.Attempt != cmd.Attempt {
		r.log.Info("cancel for an attempt not running here ignored", "run", cmd.RunID, "attempt", cmd.Attempt)
		return false
	}
	return a.requestStop(stop{reason: stopCanceled, cancel: cmd})
}

// held returns the attempt a runner command names, if it runs here.
func (r *Runner) held(runID string, attempt int) (*attempt, bool) {
	r.mu.Lock()
	a, ok := r.attempts[runID]
	r.mu.Unlock()
	if !ok || a.d.Attempt != attempt {
		r.log.Info("command for an attempt not running here ignored", "run", runID, "attempt", attempt)
		return nil, false
	}
	return a, true
}

// Input writes to an interactive attempt's stdin; false when the attempt
// is not here or takes no input.
func (r *Runner) Input(cmd commands.RunnerInput) bool {
	a, ok := r.held(cmd.RunID, cmd.Attempt)
	if !ok {
		return false
	}
	return a.control(func(c controller) bool { return c.input(cmd) })
}

// Pause stops an attempt's agent where it is (its process group gets SIGSTOP).
func (r *Runner) Pause(cmd commands.RunnerPause) bool {
	a, ok := r.held(cmd.RunID, cmd.Attempt)
	if !ok {
		return false
	}
	return a.control(func(c controller) bool { return c.pause(cmd.By) })
}

// Resume continues a paused attempt (SIGCONT).
func (r *Runner) Resume(cmd commands.RunnerResume) bool {
	a, ok := r.held(cmd.RunID, cmd.Attempt)
	if !ok {
		return false
	}
	return a.control(func(c controller) bool { return c.resume(cmd.By) })
}

// Running lists the attempts held (preparing or running), sorted.
func (r *Runner) Running() []streams.RunnerAttempt {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]streams.RunnerAttempt, 0, len(r.attempts))
	for _, a := range r.attempts {
		out = append(out, streams.RunnerAttempt{RunID: a.d.RunID, Attempt: a.d.Attempt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RunID < out[j].RunID })
	return out
}

// Drain takes no new attempt, waits up to timeout for the running ones to
// end, then stops the rest (each then fails with runner_lost, retryable when
// its dispatch has retries left; one still preparing is handed back to the
// pool). It returns the runs handed back (those that ended otherwise while
// being stopped are not).
func (r *Runner) Drain(timeout time.Duration) []string {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	r.mu.Lock()
	var stopping []string
	for id, a := range r.attempts {
		if a.requestStop(stop{reason: stopShutdown}) {
			stopping = append(stopping, id)
		}
	}
	r.mu.Unlock()
	sort.Strings(stopping)
	if len(stopping) > 0 {
		r.log.Warn("drain timed out: stopping attempts", "runs", stopping)
	}
	// The stop sequence takes at most the kill grace; then the events.
	t.Reset(r.cfg.KillGrace + 10*time.Second)
	select {
	case <-done:
	case <-t.C:
		r.log.Error("attempts did not end after being stopped", "runs", stopping)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	handed := append([]string(nil), r.handed...)
	sort.Strings(handed)
	return handed
}

// Wait waits for every attempt goroutine.
func (r *Runner) Wait() { r.wg.Wait() }

// Stop reasons.
const (
	stopCanceled = "canceled"
	stopTimeout  = "timeout"
	stopShutdown = "shutdown"
	stopBudget   = "budget"
)

// controller is what commands reach in a running attempt.
type controller interface {
	input(cmd commands.RunnerInput) bool
	pause(by string) bool
	resume(by string) bool
}

// attempt is one dispatch being executed.
type attempt struct {
	d   commands.Dispatch
	del Delivery

	// mu guards what follows. A Locker, so that a test can run a concurrent
	// stop right after one of its critical sections.
	mu sync.Locker
	// stop is the first stop requested.
	stop stop
	// stopped is closed by the first stop request.
	stopped chan struct{}
	// ctl is set while the agent runs.
	ctl controller
}

// control runs f on the running agent; false when none runs.
func (a *attempt) control(f func(controller) bool) bool {
	a.mu.Lock()
	c := a.ctl
	a.mu.Unlock()
	if c == nil {
		return false
	}
	return f(c)
}

func (a *attempt) setController(c controller) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ctl = c
}

func newAttempt(d commands.Dispatch, del Delivery) *attempt {
	return &attempt{d: d, del: del, mu: &sync.Mutex{}, stopped: make(chan struct{})}
}

// stop is why an attempt must stop, as one request made it: the first
// request wins whole, so a concurrent one never mixes its detail in.
type stop struct {
	// reason is one of the stop reasons ("" while none was requested).
	reason string
	// detail is the failure's message (budget, harness timeout), or why a
	// fenced attempt was taken from this runner.
	detail string
	// cancel is the command that canceled the attempt.
	cancel commands.RunnerCancel
}

// requestStop records why the attempt must stop; the first request wins.
func (a *attempt) requestStop(s stop) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stop.reason != "" {
		return false
	}
	a.stop = s
	close(a.stopped)
	return true
}

// stopRequested is the stop requested, if any (reason "" when none).
func (a *attempt) stopRequested() stop {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stop
}

// errStopped marks work abandoned because the attempt was stopped.
var errStopped = errors.New("attempt stopped")
