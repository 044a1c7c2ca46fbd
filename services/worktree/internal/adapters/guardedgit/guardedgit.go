// Package guardedgit puts the safety guard in front of the worktree
// service's own git commands: each one is judged as the command line it is
// (`git -C <dir> <args>`) by the same engine and policies as an agent's, and
// runs only when allowed. A decision about a run is audited on the run
// (the use case names it with guardclient.WithRun). A command the guard
// cannot be asked about does not run.
package guardedgit

import (
	"context"
	"fmt"
	"os"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/guardclient"
)

// Runner runs one git command.
type Runner interface {
	Run(ctx context.Context, dir string, args ...string) (string, error)
}

// Checker judges one command (guardclient.Client does); the error means it
// could not.
type Checker interface {
	Check(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error)
}

// Git runs git commands the guard allows.
type Git struct {
	next  Runner
	guard Checker
	env   map[string]string
}

// New returns next behind checker. env is the environment git runs with
// ("NAME=value" entries), of which the guard gets what it judges with.
func New(next Runner, checker Checker, env []string) *Git {
	return &Git{next: next, guard: checker, env: guardclient.CommandEnv(env)}
}

// NewFromProcess is New with this process's environment.
func NewFromProcess(next Runner, checker Checker) *Git { return New(next, checker, os.Environ()) }

// BlockedError is a git command the safety guard did not allow.
type BlockedError struct {
	Command string
	Rule    string
	Reason  string
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("the safety guard blocked %q (%s): %s", e.Command, e.Rule, e.Reason)
}

// Run asks the guard about `git -C dir args...`, then runs it.
func (g *Git) Run(ctx context.Context, dir string, args ...string) (string, error) {
	line := guardclient.ShellJoin(append([]string{"git", "-C", dir}, args...)...)
	req := rpc.GuardCheckRequest{Command: line, Cwd: dir, Env: g.env, Origin: rpc.GuardOriginWorktree}
	res, err := g.guard.Check(ctx, req)
	if err == nil && res.Rule == guard.RuleEngineTimeout {
		// These command lines are short and plain: a decision past the
		// engine's time budget was a scheduling pause, which does not repeat.
		res, err = g.guard.Check(ctx, req)
	}
	if err != nil {
		return "", fmt.Errorf("could not ask the safety guard about %q: %w", line, err)
	}
	if res.Decision != guard.Allow {
		return "", &BlockedError{Command: line, Rule: res.Rule, Reason: res.Reason}
	}
	return g.next.Run(ctx, dir, args...)
}
