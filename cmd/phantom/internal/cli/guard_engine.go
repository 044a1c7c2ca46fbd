package cli

import (
	"context"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/services/safety-guard/hookcmd"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// This file is where the phantom command links the safety guard's engine,
// on purpose and nowhere else: `phantom guard check` judges a command in
// this process, and `phantom guard hook`, the agents' pre-tool hook, judges
// locally whenever the safety-guard service cannot be asked
// (docs/safety-guard.md, "The hook"). The other commands reach Phantom's
// services through the API; `phantom up` runs the services themselves
// (internal/up).

// GuardHookIfRequested answers `phantom guard hook ...` and exits the
// process; for any other command line it returns at once. main calls it
// first thing: an agent waits on the hook before every shell command.
func GuardHookIfRequested() { hookcmd.MainIfRequested() }

// guardHookUsage describes `phantom guard hook`.
var guardHookUsage = hookcmd.Usage

// runGuardHook answers one hook invocation and returns its exit code.
func runGuardHook(ctx context.Context, app *App, args []string) int {
	return hookcmd.Run(ctx, args, hookcmd.IO{Stdin: app.Stdin, Stdout: app.Stdout, Stderr: app.Stderr, Environ: app.environ()})
}

// judgeHere judges req with the engine in this process, under the
// request's own mode and rule files. The error says which of them cannot be
// applied.
func judgeHere(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	preq, names, err := judge.Resolve(req, guard.ModeDefault, nil)
	if err != nil {
		return rpc.GuardCheckReply{}, err
	}
	d := policy.New().Check(ctx, preq)
	return rpc.GuardCheckReply{Decision: d.Decision, Rule: d.Rule, Segment: d.Segment, Reason: d.Reason, Mode: preq.Mode.String(), Policies: names}, nil
}
