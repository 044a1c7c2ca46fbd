package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/runner/internal/adapters/process"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// execution is the state of one attempt while it runs.
type execution struct {
	r   *Runner
	a   *attempt
	ctx context.Context
	log *slog.Logger
	app Appender
	opt bus.MsgOption
}

// execute runs one attempt to its end and records every step as events.
func (r *Runner) execute(traceCtx context.Context, a *attempt) (outcome string) {
	d := a.d
	// The attempt's work outlives the service's context (drain) but not the
	// runner's hard stop; it keeps the dispatch's trace.
	ctx, cancel := context.WithCancel(context.WithoutCancel(traceCtx))
	defer cancel()
	defer context.AfterFunc(r.hard, cancel)()
	log := r.log.With("run", d.RunID, "attempt", d.Attempt)
	app, err := r.appender(ctx)
	if err != nil {
		// Nothing can be recorded: let another runner (or a later try) have it.
		log.Error("could not open the event log", "error", err)
		_ = a.del.NakWithDelay(time.Second)
		return outcomeHandedBack
	}
	x := &execution{r: r, a: a, ctx: ctx, log: log, app: app, opt: attemptOption(d.Attempt)}
	defer func() {
		if err := x.app.Close(); err != nil {
			x.log.Error("events of the attempt may be lost", "error", err)
		}
	}()
	outcome = x.run()
	r.metrics.attempts.WithLabelValues(outcome).Inc()
	x.log.Info("attempt over", "outcome", outcome)
	return outcome
}

// attemptOption is bus.WithAttempt with its extension map built once per
// attempt instead of once per event (output events are many); envelopes
// only read it.
func attemptOption(n int) bus.MsgOption {
	var env envelope.Envelope
	bus.WithAttempt(n)(&env)
	ext := env.Extensions
	return func(e *envelope.Envelope) { e.Extensions = ext }
}

// Outcomes of attempts handed back to the scheduler by a draining runner.
const (
	outcomeHandedBack = "handed_back"
	outcomeRunnerLost = "failed:" + runs.ReasonRunnerLost
)

// run returns the outcome label (completed, failed:<reason>, canceled, handed_back, skipped).
func (x *execution) run() string {
	d := x.a.d
	if x.a.del.Redelivered() {
		// Delivered before: another runner (or this one before a crash) may
		// have got it started. Never run one attempt twice.
		seen, err := x.r.history.AttemptSeen(x.ctx, d.RunID, d.Attempt)
		if err != nil {
			x.log.Warn("could not look the attempt up in the event log", "error", err)
		}
		if seen {
			x.log.Warn("dispatch delivered again for an attempt already started or ended: dropped")
			_ = x.a.del.Ack()
			return "skipped"
		}
	}
	if d.Deadline != nil && !time.Now().Before(*d.Deadline) {
		return x.failBeforeStart(runs.ReasonTimeout, fmt.Sprintf("the attempt's deadline %s passed before it started", d.Deadline.Format(time.RFC3339)))
	}
	tpl, ok := x.r.cfg.Templates[d.Spec.Agent]
	if !ok {
		return x.failBeforeStart(runs.ReasonInvalidRequest, fmt.Sprintf("agent %q is not known to runner %s (known: %s)",
			d.Spec.Agent, x.r.cfg.RunnerID, strings.Join(launch.Names(x.r.cfg.Templates), ", ")))
	}

	reply, err := x.prepare()
	if errors.Is(err, errStopped) {
		return x.stoppedBeforeStart()
	}
	if err != nil {
		return x.failBeforeStart(runs.ReasonWorktreeFailed, err.Error())
	}
	switch reply.Code {
	case "":
	case "cwd_missing":
		x.appendOrLog(events.RunCWDMissing{RunID: d.RunID, Attempt: d.Attempt, Cwd: d.Spec.Workspace})
		return x.failBeforeStart(runs.ReasonCWDMissing, reply.Error)
	case "not_granted":
		return x.failBeforeStart(runs.ReasonWorkspaceNotGranted, reply.Error)
	default:
		return x.failBeforeStart(runs.ReasonWorktreeFailed, reply.Error)
	}

	args, env, err := tpl.Render(launch.Data{Agent: d.Spec.Agent, Prompt: d.Spec.Prompt, Model: d.Spec.Model,
		Workspace: d.Spec.Workspace, Dir: reply.Dir, RunID: d.RunID, Attempt: d.Attempt})
	if err != nil {
		// A template that cannot render will not on another attempt either.
		return x.failBeforeStart(runs.ReasonInternal, err.Error())
	}
	path, err := x.executable(tpl)
	if err != nil {
		x.r.metrics.spawnFailures.WithLabelValues(runs.ReasonCLIMissing).Inc()
		x.appendOrLog(events.RunCLIMissing{RunID: d.RunID, Attempt: d.Attempt, Agent: d.Spec.Agent, Command: tpl.Command, Install: tpl.Install})
		return x.failBeforeStart(runs.ReasonCLIMissing, fmt.Sprintf("the %s CLI (%s) is not installed on runner %s: %v; install it with: %s",
			d.Spec.Agent, tpl.Command, x.r.cfg.RunnerID, err, tpl.Install))
	}
	if reason, _ := x.a.stopReason(); reason != "" {
		return x.stoppedBeforeStart()
	}
	proc, err := process.Start(process.Spec{Path: path, Args: args, Dir: reply.Dir, Env: x.agentEnv(env)})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Op == "chdir" {
			x.r.metrics.spawnFailures.WithLabelValues(runs.ReasonCWDMissing).Inc()
			x.appendOrLog(events.RunCWDMissing{RunID: d.RunID, Attempt: d.Attempt, Cwd: reply.Dir})
			return x.failBeforeStart(runs.ReasonCWDMissing, fmt.Sprintf("could not enter %s: %v", reply.Dir, err))
		}
		x.r.metrics.spawnFailures.WithLabelValues(runs.ReasonSpawnFailed).Inc()
		return x.failBeforeStart(runs.ReasonSpawnFailed, fmt.Sprintf("could not start %s: %v", path, err))
	}
	return x.supervise(tpl, proc, append([]string{path}, args...), reply.Dir)
}

// prepare asks the host's worktree service for the directory, keeping the
// dispatch unacknowledged but alive meanwhile. errStopped: stopped meanwhile.
func (x *execution) prepare() (rpc.WorktreePrepareReply, error) {
	d := x.a.d
	ctx, cancel := context.WithTimeout(x.ctx, x.r.cfg.PrepareTimeout)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(x.r.cfg.ProgressEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-x.a.stopped:
				cancel()
				return
			case <-t.C:
				_ = x.a.del.InProgress()
			}
		}
	}()
	reply, err := x.r.worktrees.Prepare(ctx, rpc.WorktreePrepareRequest{RunID: d.RunID, Attempt: d.Attempt,
		Workspace: d.Spec.Workspace, Isolation: d.Spec.Isolation})
	close(done)
	wg.Wait()
	if reason, _ := x.a.stopReason(); reason != "" {
		return reply, errStopped
	}
	if err != nil {
		return reply, fmt.Errorf("could not prepare the working directory on host %s: %w", x.r.cfg.Host, err)
	}
	return reply, nil
}

// executable resolves the command of a template.
func (x *execution) executable(tpl *launch.Compiled) (string, error) {
	if tpl.SelfExec {
		if x.r.cfg.FakeCommand != "" {
			return x.r.cfg.LookPath(x.r.cfg.FakeCommand)
		}
		return x.r.cfg.SelfPath, nil
	}
	return x.r.cfg.LookPath(tpl.Command)
}

// secretEnv are variables of the runner an agent must not inherit.
var secretEnv = map[string]bool{"PHANTOM_TOKEN": true, "PHANTOM_DATABASE_URL": true, "PHANTOM_NATS_CREDS": true}

// agentEnv is the runner's environment without its secrets, with the run's
// identity (for hooks) and the template's additions.
func (x *execution) agentEnv(extra []string) []string {
	d := x.a.d
	env := make([]string, 0, len(x.r.cfg.Environ)+len(extra)+3)
	for _, kv := range x.r.cfg.Environ {
		k, _, _ := strings.Cut(kv, "=")
		if !secretEnv[k] && k != "PHANTOM_RUN_ID" && k != "PHANTOM_RUN_ATTEMPT" && k != "PHANTOM_RUNNER_ID" {
			env = append(env, kv)
		}
	}
	env = append(env, "PHANTOM_RUN_ID="+d.RunID, "PHANTOM_RUN_ATTEMPT="+strconv.Itoa(d.Attempt), "PHANTOM_RUNNER_ID="+x.r.cfg.RunnerID)
	return append(env, extra...)
}

// failBeforeStart records a failure of an attempt that never started and
// acknowledges its dispatch.
func (x *execution) failBeforeStart(reason, message string) string {
	x.appendFailed(reason, message, nil, 0)
	_ = x.a.del.Ack()
	return "failed:" + reason
}

// stoppedBeforeStart ends an attempt stopped while preparing: a cancel is
// recorded, a shutdown hands the dispatch back untouched.
func (x *execution) stoppedBeforeStart() string {
	d := x.a.d
	reason, cmd := x.a.stopReason()
	switch reason {
	case stopShutdown:
		_ = x.a.del.Nak()
		return outcomeHandedBack
	case stopTimeout:
		return x.failBeforeStart(runs.ReasonTimeout, "the attempt's deadline passed while preparing")
	case stopFenced:
		_ = x.a.del.Ack()
		return x.fencedEnd()
	}
	x.appendOrLog(events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: cancelReason(cmd), By: cmd.By})
	_ = x.a.del.Ack()
	return "canceled"
}

func cancelReason(cmd commands.RunnerCancel) string {
	if cmd.Reason != "" {
		return cmd.Reason
	}
	return runs.ReasonCanceled
}

func (x *execution) appendFailed(reason, message string, exitCode *int, took time.Duration) {
	d := x.a.d
	x.appendOrLog(events.RunFailed{RunID: d.RunID, Attempt: d.Attempt, Reason: reason, Message: message,
		ExitCode: exitCode, DurationMs: took.Milliseconds(),
		Retryable: runs.AttemptRetryable(d.Spec, reason, d.RetriesLeft)})
}

// appendOrLog appends an event and waits for it to be stored.
func (x *execution) appendOrLog(ev events.Payload) {
	if err := x.app.AppendSync(x.ctx, ev, x.opt); err != nil {
		x.log.Error("could not append an event", "type", ev.EventType(), "error", err)
	}
}

// supervise records the start, streams the output, stops the agent when
// asked to or at its deadline, and records how it ended.
func (x *execution) supervise(tpl *launch.Compiled, proc *process.Process, argv []string, dir string) string {
	d := x.a.d
	cfg := x.r.cfg
	// run.started is stored before the dispatch is acknowledged: a crash in
	// between redelivers the dispatch, and the redelivery sees the start.
	x.appendOrLog(events.RunStarted{RunID: d.RunID, Attempt: d.Attempt, RunnerID: cfg.RunnerID, Host: cfg.Host,
		PID: proc.PID(), Argv: abbreviate(argv), Cwd: dir})
	if err := x.a.del.Ack(); err != nil {
		x.log.Warn("could not acknowledge the dispatch", "error", err)
	}

	copts := chunk.Options{MaxBytes: cfg.ChunkBytes, MaxLineBytes: cfg.MaxLineBytes, Interval: cfg.ChunkInterval}
	// The last stdout line is kept for every agent: the final result, or the
	// error a failure is classified by (quotaFailure).
	out := newPump(x, proc.Stdout(), "stdout", chunk.New(copts), true)
	errp := newPump(x, proc.Stderr(), "stderr", chunk.New(copts), false)
	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); out.run() }()
	go func() { defer pumps.Done(); errp.run() }()

	var deadline <-chan time.Time
	if d.Deadline != nil {
		t := time.NewTimer(time.Until(*d.Deadline))
		defer t.Stop()
		deadline = t.C
	}
	// reason stays empty when the agent ended on its own: a stop asked for
	// after that changes nothing.
	var reason string
	var cmd commands.RunnerCancel
	select {
	case <-proc.Exited():
	case <-deadline:
		x.a.requestStop(stopTimeout, nil)
		reason, cmd = x.a.stopReason()
		proc.Stop(cfg.KillGrace)
	case <-x.a.stopped:
		reason, cmd = x.a.stopReason()
		proc.Stop(cfg.KillGrace)
	}
	// The agent and its group are gone; the pipes end unless something left
	// the group holding them. Read what is there, then stop waiting.
	pumpsDone := make(chan struct{})
	go func() { pumps.Wait(); close(pumpsDone) }()
	select {
	case <-pumpsDone:
	case <-time.After(2 * time.Second):
		x.log.Warn("output pipes still open after the agent exited: closing them")
		out.abandon()
		errp.abandon()
		<-pumpsDone
	}

	exit := proc.Exit()
	so, se := out.batcher.Stats(), errp.batcher.Stats()
	var exitCode *int
	if exit.Signal == "" {
		exitCode = &exit.Code
	}
	x.appendOrLog(events.RunCLIExit{RunID: d.RunID, Attempt: d.Attempt, ExitCode: exit.Code, Signal: exit.Signal,
		DurationMs: exit.Duration.Milliseconds()})
	x.appendOrLog(events.RunRunnerMetrics{RunID: d.RunID, Attempt: d.Attempt, DurationMs: exit.Duration.Milliseconds(),
		StdoutBytes: so.Bytes, StderrBytes: se.Bytes, Lines: so.Lines + se.Lines, Chunks: so.Chunks + se.Chunks,
		PeakRSSBytes: exit.PeakRSS, CPUUserMs: exit.CPUUser.Milliseconds(), CPUSystemMs: exit.CPUSys.Milliseconds()})

	if reason == "" && exit.Signal == "" && exit.Code != 0 {
		if outcome, ok := x.quotaFailure([]string{out.lastLine(), errp.lastLine()}, exitCode, exit.Duration); ok {
			return outcome
		}
	}
	switch {
	case reason == stopFenced:
		return x.fencedEnd()
	case reason == stopCanceled:
		x.appendOrLog(events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: cancelReason(cmd), By: cmd.By})
		return "canceled"
	case reason == stopTimeout:
		x.appendFailed(runs.ReasonTimeout, "the agent was stopped at the attempt's deadline", exitCode, exit.Duration)
		return "failed:" + runs.ReasonTimeout
	case reason == stopShutdown:
		x.appendFailed(runs.ReasonRunnerLost, fmt.Sprintf("runner %s shut down while the agent ran", cfg.RunnerID), exitCode, exit.Duration)
		return "failed:" + runs.ReasonRunnerLost
	case exit.Signal != "":
		x.appendFailed(runs.ReasonKilled, fmt.Sprintf("the agent was ended by %s", exit.Signal), nil, exit.Duration)
		return "failed:" + runs.ReasonKilled
	case exit.Code != 0:
		msg := fmt.Sprintf("the agent exited with code %d", exit.Code)
		if line := errp.lastLine(); line != "" {
			// The last thing it said on stderr is usually why.
			msg += ": " + abbreviate([]string{line})[0]
		}
		x.appendFailed(runs.ReasonAgentError, msg, exitCode, exit.Duration)
		return "failed:" + runs.ReasonAgentError
	}
	x.appendOrLog(events.RunCompleted{RunID: d.RunID, Attempt: d.Attempt, ExitCode: 0, DurationMs: exit.Duration.Milliseconds(),
		Result: finalResult(tpl.ResultFormat, out.lastLine())})
	return "completed"
}

// abbreviate keeps the command line readable in an event: a long argument
// (the prompt, which run.requested already holds) is cut.
func abbreviate(argv []string) []string {
	const limit = 256
	out := make([]string, len(argv))
	for i, a := range argv {
		if len(a) > limit {
			cut := limit
			for cut > 0 && a[cut]&0xC0 == 0x80 {
				cut--
			}
			a = a[:cut] + fmt.Sprintf("…(%d bytes)", len(a))
		}
		out[i] = a
	}
	return out
}

// finalResult reads the agent's final answer from its last output line.
func finalResult(format, line string) string {
	if format != launch.ResultClaude || line == "" {
		return ""
	}
	var res struct {
		Type   string `json:"type"`
		Result string `json:"result"`
	}
	if json.Unmarshal([]byte(line), &res) != nil || res.Type != "result" {
		return ""
	}
	return res.Result
}
