package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"syscall"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// prelude runs the run's shell prelude (harness.shellPrelude) in the
// working directory before the agent, once the safety guard has allowed it:
// a blocked or unjudged prelude fails the run with policy_denied, a prelude
// that fails fails it with agent_error. Its output (the last 4 KiB,
// redacted) is recorded as run.progress. It returns ("", "") when the agent
// may start.
func (x *execution) prelude(dir string) (reason, message string) {
	script := x.plan.Prelude
	if script == "" {
		return "", ""
	}
	d := x.a.d
	if x.r.cfg.GuardCheck == nil {
		return runs.ReasonPolicyDenied, "the shell prelude was not run: no safety guard is configured to judge it"
	}
	ctx, cancel := context.WithTimeout(x.ctx, x.r.cfg.GuardTimeout)
	reply, err := x.r.cfg.GuardCheck.Check(ctx, rpc.GuardCheckRequest{RunID: d.RunID, Attempt: d.Attempt, Command: script, Cwd: dir,
		Workspace: d.Spec.Workspace, Profile: d.Spec.Profile, Origin: "runner"})
	cancel()
	switch {
	case err != nil || reply.Error != "":
		why := reply.Error
		if err != nil {
			why = err.Error()
		}
		// Phantom's own commands fail closed when they cannot be judged.
		return runs.ReasonPolicyDenied, "the shell prelude could not be judged by the safety guard: " + why
	case reply.Decision != "allow":
		return runs.ReasonPolicyDenied, fmt.Sprintf("the safety guard blocked the shell prelude (%s): %s", reply.Rule, reply.Reason)
	}
	ctx, cancel = context.WithTimeout(x.ctx, x.r.cfg.PreludeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = x.agentEnv(x.plan.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	x.appendOrLog(events.RunProgress{RunID: d.RunID, Attempt: d.Attempt, Phase: "prelude", Message: x.red.String(out.String())})
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return runs.ReasonAgentError, fmt.Sprintf("the shell prelude exited with code %d", ee.ExitCode())
		}
		return runs.ReasonAgentError, "the shell prelude could not run: " + err.Error()
	}
	return "", ""
}

// tail keeps the last 4 KiB written.
type tail struct{ b bytes.Buffer }

func (t *tail) Write(p []byte) (int, error) {
	t.b.Write(p)
	if over := t.b.Len() - 4096; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string { return t.b.String() }
