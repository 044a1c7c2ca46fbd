package command

import (
	"context"
	"fmt"

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
	if x.ports.Guard == nil {
		return runs.ReasonPolicyDenied, "the shell prelude was not run: no safety guard is configured to judge it"
	}
	ctx, cancel := context.WithTimeout(x.ctx, x.cfg.GuardTimeout)
	reply, err := x.ports.Guard.Check(ctx, rpc.GuardCheckRequest{RunID: d.RunID, Attempt: d.Attempt, Command: script, Cwd: dir,
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
	ctx, cancel = context.WithTimeout(x.ctx, preludeTimeout)
	defer cancel()
	out, code, err := x.ports.Shell.Run(ctx, script, dir, x.agentEnv(x.plan.Env))
	x.appendOrLog(events.RunProgress{RunID: d.RunID, Attempt: d.Attempt, Phase: "prelude", Message: x.red.String(out)})
	switch {
	case err != nil:
		return runs.ReasonAgentError, "the shell prelude could not run: " + err.Error()
	case code != 0:
		return runs.ReasonAgentError, fmt.Sprintf("the shell prelude exited with code %d", code)
	}
	return "", ""
}
