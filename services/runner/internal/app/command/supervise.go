package command

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agentoutput"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/harness"
)

// result is how one agent process ended.
type result struct {
	exit Exit
	// stop is why the runner stopped it (reason "" when it ended by itself).
	stop stop
	// stderr and stdout are its last lines on each stream.
	stderr        string
	stdout        string
	resumeInvalid bool
}

// running is the agent process of an attempt, as commands reach it.
type running struct {
	x    *execution
	proc Agent

	mu     sync.Mutex
	stdin  io.WriteCloser
	paused bool
	closed bool
}

func (c *running) input(cmd commands.RunnerInput) bool {
	x := c.x
	d := x.a.d
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stdin == nil || c.closed {
		x.log.Info("input for an attempt whose agent takes none ignored", "input", cmd.InputID)
		return false
	}
	if cmd.Text != "" {
		if _, err := c.stdin.Write(x.turn(cmd.Text)); err != nil {
			x.log.Warn("could not write to the agent's stdin", "error", err)
			return false
		}
		id := cmd.InputID
		if id == "" {
			id = uuid.NewString()
		}
		x.appendAsync(events.SessionInputAccepted{RunID: d.RunID, Attempt: d.Attempt, InputID: id, Text: x.red.String(cmd.Text)})
	}
	if cmd.Close {
		c.closed = true
		_ = c.stdin.Close()
		x.appendAsync(events.SessionClosed{RunID: d.RunID, Attempt: d.Attempt, Reason: "ended"})
	}
	return true
}

func (c *running) pause(by string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.paused {
		return false
	}
	if err := c.proc.Pause(); err != nil {
		c.x.log.Warn("could not pause the agent", "error", err)
		return false
	}
	c.paused = true
	d := c.x.a.d
	c.x.appendAsync(events.RunPaused{RunID: d.RunID, Attempt: d.Attempt, By: by})
	return true
}

func (c *running) resume(by string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		return false
	}
	if err := c.proc.Continue(); err != nil {
		c.x.log.Warn("could not resume the agent", "error", err)
		return false
	}
	c.paused = false
	d := c.x.a.d
	c.x.appendAsync(events.RunResumed{RunID: d.RunID, Attempt: d.Attempt, By: by})
	return true
}

// turn renders one input turn in the agent's input format.
func (x *execution) turn(text string) []byte {
	if x.def.Adapter == agents.AdapterClaude {
		return harness.ClaudeTurn(text)
	}
	return []byte(strings.ReplaceAll(text, "\n", " ") + "\n")
}

// appendAsync appends without waiting for the acknowledgement.
func (x *execution) appendAsync(ev events.Payload) {
	if err := x.app.Append(x.ctx, ev, x.opt); err != nil {
		x.log.Error("could not append an event", "type", ev.EventType(), "error", err)
	}
}

// supervise streams the output of a started agent, answers commands,
// stops it when asked to, at the deadline or past its harness timeout, and
// records its exit.
func (x *execution) supervise(proc Agent) result {
	d := x.a.d
	cfg := x.cfg
	ctl := &running{x: x, proc: proc, stdin: proc.Stdin()}
	if ctl.stdin != nil {
		x.appendOrLog(events.SessionOpened{RunID: d.RunID, Attempt: d.Attempt, RunnerID: cfg.RunnerID})
		if len(x.plan.Input) > 0 {
			if _, err := ctl.stdin.Write(x.plan.Input); err != nil {
				x.log.Warn("could not write the first turn", "error", err)
			}
		}
	}
	x.a.setController(ctl)
	defer x.a.setController(nil)

	out := newPump(x, proc.Stdout(), "stdout", x.out, x.sem.write)
	errp := newPump(x, proc.Stderr(), "stderr", x.errb, func(p []byte) {
		if agentoutput.ResumeFailureIn(string(p)) {
			x.resumeRefused.Store(true)
		}
	})
	var pumps sync.WaitGroup
	pumps.Add(2)
	go func() { defer pumps.Done(); out.run() }()
	go func() { defer pumps.Done(); errp.run() }()

	var deadline, harnessLimit <-chan time.Time
	if d.Deadline != nil {
		t := time.NewTimer(time.Until(*d.Deadline))
		defer t.Stop()
		deadline = t.C
	}
	if x.plan.Timeout > 0 {
		t := time.NewTimer(x.plan.Timeout)
		defer t.Stop()
		harnessLimit = t.C
	}
	var res result
	select {
	case <-proc.Exited():
	case <-deadline:
		x.a.requestStop(stop{reason: stopTimeout})
	case <-harnessLimit:
		x.a.requestStop(stop{reason: stopTimeout, detail: fmt.Sprintf("the agent passed its harness timeout of %s", x.plan.Timeout)})
	case <-x.a.stopped:
	}
	select {
	case <-proc.Exited():
		// Ended by itself: a stop asked for after that changes nothing.
	default:
		res.stop = x.a.stopRequested()
		// A paused group must run again to hear the signals.
		_ = proc.Continue()
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
	x.sem.flush()
	ctl.mu.Lock()
	if ctl.stdin != nil && !ctl.closed {
		ctl.closed = true
		_ = ctl.stdin.Close()
		x.appendOrLog(events.SessionClosed{RunID: d.RunID, Attempt: d.Attempt, Reason: "agent_exited"})
	}
	ctl.mu.Unlock()

	res.exit = proc.Exit()
	res.stderr = errp.lastLine()
	res.stdout = out.lastLine()
	res.resumeInvalid = agentoutput.ResumeFailed(x.outcomeOf(), res.stderr) || x.resumeRefused.Load()
	so, se := x.out.Stats(), x.errb.Stats()
	x.appendOrLog(events.RunCLIExit{RunID: d.RunID, Attempt: d.Attempt, ExitCode: res.exit.Code, Signal: res.exit.Signal,
		DurationMs: res.exit.Duration.Milliseconds()})
	x.appendOrLog(events.RunRunnerMetrics{RunID: d.RunID, Attempt: d.Attempt, DurationMs: res.exit.Duration.Milliseconds(),
		StdoutBytes: so.Bytes, StderrBytes: se.Bytes, Lines: so.Lines + se.Lines, Chunks: so.Chunks + se.Chunks,
		PeakRSSBytes: res.exit.PeakRSS, CPUUserMs: res.exit.CPUUser.Milliseconds(), CPUSystemMs: res.exit.CPUSys.Milliseconds()})
	x.closeSockets()
	return res
}

// finish records how the attempt ended.
func (x *execution) finish(res result) string {
	d := x.a.d
	cfg := x.cfg
	exit := res.exit
	var exitCode *int
	if exit.Signal == "" {
		exitCode = &exit.Code
	}
	switch res.stop.reason {
	case stopFenced:
		return x.fencedEnd()
	case stopCanceled:
		x.appendOrLog(events.RunCanceled{RunID: d.RunID, Attempt: d.Attempt, Reason: cancelReason(res.stop.cancel), By: res.stop.cancel.By})
		return "canceled"
	case stopTimeout:
		msg := res.stop.detail
		if msg == "" {
			msg = "the agent was stopped at the attempt's deadline"
		}
		x.appendFailed(runs.ReasonTimeout, msg, exitCode, exit.Duration)
		return "failed:" + runs.ReasonTimeout
	case stopShutdown:
		x.appendFailed(runs.ReasonRunnerLost, fmt.Sprintf("runner %s shut down while the agent ran", cfg.RunnerID), exitCode, exit.Duration)
		return "failed:" + runs.ReasonRunnerLost
	case stopBudget:
		x.appendFailed(runs.ReasonBudgetExceeded, res.stop.detail, exitCode, exit.Duration)
		return "failed:" + runs.ReasonBudgetExceeded
	}
	if exit.Signal != "" {
		x.appendFailed(runs.ReasonKilled, fmt.Sprintf("the agent was ended by %s", exit.Signal), nil, exit.Duration)
		return "failed:" + runs.ReasonKilled
	}
	o := x.outcomeOf()
	if exit.Code != 0 || (o.HasResult && o.IsError) {
		// A quota refusal first: it carries when the quota resets, so the
		// scheduler holds the provider instead of failing its runs.
		if outcome, ok := x.quotaFailure([]string{res.stdout, o.ErrorText, res.stderr}, exitCode, exit.Duration); ok {
			return outcome
		}
	}
	if reason, msg := agentoutput.Classify(x.def.Adapter, exit.Code, o, res.stderr); reason != "" {
		x.appendFailed(reason, abbreviate([]string{msg})[0], exitCode, exit.Duration)
		return "failed:" + reason
	}
	result := x.red.String(o.Result)
	if len(x.plan.OutputSchema) > 0 {
		x.structuredOutput(result)
	}
	x.appendOrLog(events.RunCompleted{RunID: d.RunID, Attempt: d.Attempt, ExitCode: exit.Code, DurationMs: exit.Duration.Milliseconds(),
		Result: result})
	return "completed"
}

// structuredOutput validates the final result against the run's schema.
func (x *execution) structuredOutput(result string) {
	d := x.a.d
	out, errs := validateOutput(x.plan.OutputSchema, result)
	if len(errs) > 0 {
		x.appendOrLog(events.RunStructuredOutputInvalid{RunID: d.RunID, Attempt: d.Attempt, Errors: errs})
		return
	}
	x.appendOrLog(events.RunStructuredOutput{RunID: d.RunID, Attempt: d.Attempt, Output: json.RawMessage(out)})
}
