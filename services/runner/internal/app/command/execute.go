package command

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agentoutput"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/harness"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// execution is the state of one attempt while it runs.
type execution struct {
	*deps
	a   *attempt
	ctx context.Context
	log *slog.Logger
	app Appender
	opt bus.MsgOption
	red Redactor

	def  *agents.Definition
	plan *launch.Plan
	// out and errb batch the attempt's output; they outlive one spawn (a
	// resume that failed is spawned again) so chunk numbers never repeat.
	out, errb *chunk.Batcher
	sem       *semantics
	// sockets serve the guard hook while the agent runs.
	sockets []GuardSocket
	// resumeRefused is set when the agent's stderr said its session could
	// not be resumed (Codex says so there, among other lines).
	resumeRefused atomic.Bool
}

// execute runs one attempt to its end and records every step as events.
func execute(traceCtx, hard context.Context, dp *deps, log *slog.Logger, a *attempt) (outcome string) {
	d := a.d
	// The attempt's work outlives the service's context (drain) but not the
	// runner's hard stop; it keeps the dispatch's trace.
	ctx, cancel := context.WithCancel(context.WithoutCancel(traceCtx))
	defer cancel()
	defer context.AfterFunc(hard, cancel)()
	log = log.With("run", d.RunID, "attempt", d.Attempt)
	app, err := dp.ports.OpenAppender(ctx)
	if err != nil {
		// Nothing can be recorded: let another runner (or a later try) have it.
		log.Error("could not open the event log", "error", err)
		_ = a.del.NakWithDelay(time.Second)
		return outcomeHandedBack
	}
	x := &execution{deps: dp, a: a, ctx: ctx, log: log, app: app, opt: attemptOption(d.Attempt), red: dp.cfg.Redact}
	defer func() {
		if err := x.app.Close(); err != nil {
			x.log.Error("events of the attempt may be lost", "error", err)
		}
	}()
	outcome = x.run()
	x.removePrivateDir()
	x.metrics.attempts.WithLabelValues(outcome).Inc()
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
		seen, err := x.ports.History.AttemptSeen(x.ctx, d.RunID, d.Attempt)
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
	def, ok := x.cfg.Agents[d.Spec.Agent]
	if !ok {
		return x.failBeforeStart(runs.ReasonInvalidRequest, fmt.Sprintf("agent %q is not known to runner %s (known: %s)",
			d.Spec.Agent, x.cfg.RunnerID, strings.Join(agents.Names(x.cfg.Agents), ", ")))
	}
	x.def = def
	capa, detected := x.ports.Capabilities.Get(d.Spec.Agent)
	if detected && capa.Support == agents.Blocked {
		return x.failBeforeStart(runs.ReasonCLIBlocked, capa.Reason)
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
	case rpc.WorktreeCodeCWDMissing:
		x.appendOrLog(events.RunCWDMissing{RunID: d.RunID, Attempt: d.Attempt, Cwd: d.Spec.Workspace})
		return x.failBeforeStart(runs.ReasonCWDMissing, reply.Error)
	case rpc.WorktreeCodeNotGranted:
		return x.failBeforeStart(runs.ReasonWorkspaceNotGranted, reply.Error)
	default:
		return x.failBeforeStart(runs.ReasonWorktreeFailed, reply.Error)
	}

	path, err := x.executable()
	if err != nil {
		x.metrics.spawnFailures.WithLabelValues(runs.ReasonCLIMissing).Inc()
		x.appendOrLog(events.RunCLIMissing{RunID: d.RunID, Attempt: d.Attempt, Agent: d.Spec.Agent, Command: def.Command, Install: def.Install})
		return x.failBeforeStart(runs.ReasonCLIMissing, fmt.Sprintf("the %s CLI (%s) is not installed on runner %s: %v; install it with: %s",
			d.Spec.Agent, def.Command, x.cfg.RunnerID, err, def.Install))
	}
	resume := x.resumeSession()
	plan, err := x.compose(path, reply.Dir, capa.Version, resume)
	if err != nil {
		return x.failBeforeStart(runs.ReasonInternal, err.Error())
	}
	if x.a.stopRequested().reason != "" {
		return x.stoppedBeforeStart()
	}
	if reason, msg := x.prelude(reply.Dir); reason != "" {
		return x.failBeforeStart(reason, msg)
	}

	// Output is redacted as a stream, before it is cut into chunks.
	copts := chunk.Options{MaxBytes: x.cfg.ChunkBytes, MaxLineBytes: x.cfg.MaxLineBytes, Interval: x.cfg.ChunkInterval,
		NewFilter: x.red.Stream}
	x.out, x.errb = chunk.New(copts), chunk.New(copts)
	x.sem = newSemantics(x)
	proc, err := x.spawn(plan, reply.Dir)
	if err != nil {
		if se := (*SpawnError)(nil); errors.As(err, &se) && se.NoDir {
			x.metrics.spawnFailures.WithLabelValues(runs.ReasonCWDMissing).Inc()
			x.appendOrLog(events.RunCWDMissing{RunID: d.RunID, Attempt: d.Attempt, Cwd: reply.Dir})
			return x.failBeforeStart(runs.ReasonCWDMissing, fmt.Sprintf("could not enter %s: %v", reply.Dir, err))
		}
		x.metrics.spawnFailures.WithLabelValues(runs.ReasonSpawnFailed).Inc()
		return x.failBeforeStart(runs.ReasonSpawnFailed, fmt.Sprintf("could not start %s: %v", path, err))
	}
	// run.started is stored before the dispatch is acknowledged: a crash in
	// between redelivers the dispatch, and the redelivery sees the start.
	x.appendOrLog(events.RunStarted{RunID: d.RunID, Attempt: d.Attempt, RunnerID: x.cfg.RunnerID, Host: x.cfg.Host,
		PID: proc.PID(), Argv: redactAll(x.red, abbreviate(append([]string{plan.Path}, plan.Args...))), Cwd: reply.Dir})
	if err := x.a.del.Ack(); err != nil {
		x.log.Warn("could not acknowledge the dispatch", "error", err)
	}
	if detected && capa.Support == agents.Degraded {
		x.appendOrLog(events.RunWarning{RunID: d.RunID, Attempt: d.Attempt, Code: "cli_degraded", Message: capa.Reason})
	}
	for _, w := range plan.Warnings {
		x.appendOrLog(events.RunCompatibilityWarning{RunID: d.RunID, Attempt: d.Attempt, Option: w.Option, Reason: w.Reason})
	}
	res := x.supervise(proc)
	if res.resumeInvalid && plan.ResumeSessionID != "" && res.stop.reason == "" {
		// The provider session is gone (another machine, cleaned up): start
		// over once without it, in the same attempt.
		x.appendOrLog(events.RunWarning{RunID: d.RunID, Attempt: d.Attempt, Code: "resume_failed",
			Message: fmt.Sprintf("provider session %s could not be resumed; starting again without it", plan.ResumeSessionID)})
		x.removePrivateDir()
		plan, err = x.compose(path, reply.Dir, capa.Version, noResume)
		if err == nil {
			x.resumeRefused.Store(false)
			x.sem = newSemantics(x)
			if proc, err = x.spawn(plan, reply.Dir); err == nil {
				x.appendOrLog(events.RunProgress{RunID: d.RunID, Attempt: d.Attempt, Phase: "restarted",
					Message: fmt.Sprintf("agent started again without resume, pid %d", proc.PID())})
				res = x.supervise(proc)
			}
		}
		if err != nil {
			x.appendFailed(runs.ReasonSpawnFailed, fmt.Sprintf("could not start %s again without resume: %v", path, err), nil, 0)
			return "failed:" + runs.ReasonSpawnFailed
		}
	}
	return x.finish(res)
}

// resumeSession is the provider session this attempt resumes: the run's
// own (harness.resumeSessionId, a conversation's thread), else for a retry
// the one an earlier attempt opened on this host (crash recovery).
func (x *execution) resumeSession() string {
	d := x.a.d
	if d.Spec.Harness != nil && (d.Spec.Harness.ResumeSessionID != "" || d.Spec.Harness.Continue) {
		return ""
	}
	if d.Attempt <= 1 || !resumable(x.def.Adapter) {
		return ""
	}
	ctx, cancel := context.WithTimeout(x.ctx, 5*time.Second)
	defer cancel()
	id, err := x.ports.History.PreviousSession(ctx, d.RunID, d.Attempt, x.cfg.Host)
	if err != nil {
		x.log.Warn("could not look up the session of an earlier attempt; starting afresh", "error", err)
		return ""
	}
	if id != "" {
		x.log.Info("resuming the provider session of an earlier attempt", "session", id)
	}
	return id
}

func resumable(adapterName string) bool {
	switch adapterName {
	case agents.AdapterClaude, agents.AdapterCodex, agents.AdapterGemini, agents.AdapterFake:
		return true
	}
	return false
}

// noResume makes compose start a fresh provider session whatever the run asked.
const noResume = "\x00none"

// compose builds the launch plan: template, harness options, decorators.
// resume is the session an earlier attempt opened ("" for none, noResume to
// drop the run's own resume options too).
func (x *execution) compose(path, dir, version, resume string) (*launch.Plan, error) {
	d := x.a.d
	model := d.Spec.Model
	if model == "" {
		model = x.def.DefaultModel
		if d.Spec.Harness != nil && d.Spec.Harness.PermissionMode == "plan" && x.def.PlanModel != "" {
			model = x.def.PlanModel
		}
	}
	args, env, err := x.def.Template().Render(launch.Data{Agent: d.Spec.Agent, Prompt: d.Spec.Prompt, Model: model,
		Workspace: d.Spec.Workspace, Dir: dir, RunID: d.RunID, Attempt: d.Attempt})
	if err != nil {
		return nil, err
	}
	private, err := x.ports.Dirs.Create()
	if err != nil {
		return nil, fmt.Errorf("could not create the attempt's private directory: %w", err)
	}
	p := &launch.Plan{Agent: d.Spec.Agent, Adapter: x.def.Adapter, Path: path, Args: args, Env: env, Dir: private}
	x.plan = p
	var h runs.Harness
	if d.Spec.Harness != nil {
		h = *d.Spec.Harness
	}
	if resume == noResume {
		h.ResumeSessionID, h.Continue, h.ForkSession, resume = "", false, false, ""
	}
	interactive := d.Spec.Interactive != nil && *d.Spec.Interactive
	if err := harness.Apply(harness.Facts{Adapter: x.def.Adapter, Version: version, Root: x.cfg.Root, Prompt: d.Spec.Prompt},
		h, interactive, resume, p); err != nil {
		return nil, err
	}
	if x.def.Adapter == agents.AdapterClaude {
		if err := x.guardHook(p); err != nil {
			return nil, err
		}
		if err := harness.FinalizeClaude(p); err != nil {
			return nil, err
		}
	}
	if err := x.ports.Dirs.Write(p.Dir, p.Files); err != nil {
		return nil, err
	}
	return p, nil
}

// removePrivateDir ends what the last plan set up: the guard sockets and
// the private directory.
func (x *execution) removePrivateDir() {
	x.closeSockets()
	if x.plan != nil && x.plan.Dir != "" {
		x.ports.Dirs.Remove(x.plan.Dir)
	}
}

func (x *execution) closeSockets() {
	for _, s := range x.sockets {
		if err := s.Close(); err != nil {
			x.log.Debug("could not close the guard socket", "error", err)
		}
	}
	x.sockets = nil
}

// guardHook injects the safety guard's PreToolUse hook on Bash into a
// Claude Code run (through --settings, so the user's own settings and hooks
// stay) and serves the socket it asks through.
func (x *execution) guardHook(p *launch.Plan) error {
	if x.cfg.GuardHook == "" || x.ports.GuardSockets == nil {
		return nil
	}
	socket, err := x.ports.GuardSockets.Serve(p.Dir, x.a.d.RunID, x.a.d.Attempt)
	if err != nil {
		return err
	}
	x.sockets = append(x.sockets, socket)
	p.Env = append(p.Env, socket.Env())
	p.MergeSettings(map[string]any{"hooks": map[string]any{"PreToolUse": []any{
		map[string]any{"matcher": "Bash", "hooks": []any{map[string]any{"type": "command", "command": x.cfg.GuardHook}}},
	}}})
	return nil
}

// prepare asks the host's worktree service for the directory, keeping the
// dispatch unacknowledged but alive meanwhile. errStopped: stopped meanwhile.
func (x *execution) prepare() (rpc.WorktreePrepareReply, error) {
	d := x.a.d
	ctx, cancel := context.WithTimeout(x.ctx, x.cfg.PrepareTimeout)
	defer cancel()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(x.cfg.ProgressEvery)
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
	reply, err := x.ports.Worktrees.Prepare(ctx, rpc.WorktreePrepareRequest{RunID: d.RunID, Attempt: d.Attempt,
		Workspace: d.Spec.Workspace, Isolation: d.Spec.Isolation})
	close(done)
	wg.Wait()
	if x.a.stopRequested().reason != "" {
		return reply, errStopped
	}
	if err != nil {
		return reply, fmt.Errorf("could not prepare the working directory on host %s: %w", x.cfg.Host, err)
	}
	return reply, nil
}

// executable resolves the command of the agent.
func (x *execution) executable() (string, error) {
	if x.def.SelfExec {
		if x.cfg.FakeCommand != "" {
			return x.ports.Executables.LookPath(x.cfg.FakeCommand)
		}
		return x.cfg.SelfPath, nil
	}
	return x.ports.Executables.LookPath(x.def.Command)
}

// spawn starts the agent, trying again with backoff when the start fails
// for a reason that may pass (not a missing file or directory).
func (x *execution) spawn(p *launch.Plan, dir string) (Agent, error) {
	spec := SpawnSpec{Path: p.Path, Args: p.Args, Dir: dir, Env: x.agentEnv(p.Env), Stdin: p.Interactive}
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		proc, err := x.ports.Spawner.Spawn(spec)
		if err == nil {
			return proc, nil
		}
		se := (*SpawnError)(nil)
		permanent := errors.As(err, &se) && se.Permanent
		if permanent || try >= x.cfg.SpawnRetries {
			return nil, err
		}
		x.log.Warn("could not start the agent; trying again", "error", err, "backoff", backoff)
		select {
		case <-time.After(backoff):
		case <-x.a.stopped:
			return nil, err
		}
		backoff *= 2
	}
}

// secretEnv are variables of the runner an agent must not inherit.
var secretEnv = map[string]bool{"PHANTOM_TOKEN": true, "PHANTOM_DATABASE_URL": true, "PHANTOM_NATS_CREDS": true,
	"PHANTOM_NATS_URL": true, "PHANTOM_NATS_TLS_KEY": true}

// agentEnv is the runner's environment without its secrets, with the run's
// identity (for hooks) and the plan's additions (which win).
func (x *execution) agentEnv(extra []string) []string {
	d := x.a.d
	override := map[string]bool{"PHANTOM_RUN_ID": true, "PHANTOM_RUN_ATTEMPT": true, "PHANTOM_RUNNER_ID": true}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		override[k] = true
	}
	env := make([]string, 0, len(x.cfg.Environ)+len(extra)+3)
	for _, kv := range x.cfg.Environ {
		k, _, _ := strings.Cut(kv, "=")
		if !secretEnv[k] && !override[k] {
			env = append(env, kv)
		}
	}
	env = append(env, "PHANTOM_RUN_ID="+d.RunID, "PHANTOM_RUN_ATTEMPT="+strconv.Itoa(d.Attempt), "PHANTOM_RUNNER_ID="+x.cfg.RunnerID)
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
	s := x.a.stopRequested()
	switch s.reason {
	case stopShutdown:
		_ = x.a.del.Nak()
		return outcomeHandedBack
	case stopFenced:
		_ = x.a.del.Ack()
		return x.fencedEnd()
	case stopTimeout:
		return x.failBeforeStart(runs.ReasonTimeout, "the attempt's deadline passed while preparing")
	}
	x.appendOrLog(events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: cancelReason(s.cancel), By: s.cancel.By})
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
	x.appendOrLog(events.RunFailed{RunID: d.RunID, Attempt: d.Attempt, Reason: reason, Message: x.red.String(message),
		ExitCode: exitCode, DurationMs: took.Milliseconds(),
		Retryable: runs.AttemptRetryable(d.Spec, reason, d.RetriesLeft)})
}

// appendOrLog appends an event and waits for it to be stored.
func (x *execution) appendOrLog(ev events.Payload) {
	if err := x.app.AppendSync(x.ctx, ev, x.opt); err != nil {
		x.log.Error("could not append an event", "type", ev.EventType(), "error", err)
	}
}

// redactAll redacts each of ss.
func redactAll(red Redactor, ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = red.String(s)
	}
	return out
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

// outcomeOf is the parser's outcome, or an empty one for an agent whose
// output is not parsed.
func (x *execution) outcomeOf() agentoutput.Outcome {
	if x.sem == nil || x.sem.parser == nil {
		return agentoutput.Outcome{}
	}
	return x.sem.parser.Outcome()
}
