package git_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
)

// fakeContext decides as a request in mode with some rules switched off.
type fakeContext struct {
	mode guard.Mode
	off  map[string]bool
}

// shell is a shell state with some variables.
type shell map[string]family.Var

func (s shell) Vars() map[string]family.Var { return s }
func (s shell) Depth() int                  { return 0 }

func (f fakeContext) Mode() guard.Mode       { return f.mode }
func (f fakeContext) Switched(string) bool   { return false }
func (f fakeContext) Enabled(id string) bool { return !f.off[id] }
func (f fakeContext) Block(id, reason, seg string) *family.Finding {
	if !f.Enabled(id) {
		return nil
	}
	return &family.Finding{Rule: id, Reason: reason, Segment: seg}
}

func call(words ...string) *family.Call { return callIn(nil, words...) }

func callIn(vars shell, words ...string) *family.Call {
	c := &family.Call{Seg: "seg", Shell: vars}
	for _, w := range words {
		c.Args = append(c.Args, family.Lit(w))
	}
	return c
}

func rule(f *family.Finding) string {
	if f == nil {
		return ""
	}
	return f.Rule
}

func TestGitRulesFollowSubcommandsOptionsAndConfiguration(t *testing.T) {
	t.Parallel()
	ctx := fakeContext{}
	require.Equal(t, guard.RuleGitResetHard, rule(git.Judge(ctx, call("git", "-C", "/repo", "reset", "--har"))), "global options skipped, abbreviation resolved")
	require.Equal(t, guard.RuleGitPushForce, rule(git.Judge(ctx, call("git", "push", "origin", "+main"))))
	require.Equal(t, "", rule(git.Judge(ctx, call("git", "push", "--force-with-lease"))))
	require.Equal(t, guard.RuleGitCleanForce, rule(git.Judge(ctx, call("git", "clean", "-fd"))))
	require.Equal(t, "", rule(git.Judge(ctx, call("git", "clean", "-n", "-fd"))), "a dry run")

	// An alias defined on the command line is resolved.
	require.Equal(t, guard.RuleGitResetHard, rule(git.Judge(ctx, call("git", "-c", "alias.nuke=reset --hard", "nuke"))))
	// An SSH override on a network command, from the shell's exported variables.
	vars := shell{"GIT_SSH_COMMAND": {Val: "ssh -o ProxyCommand=x", Known: true, Set: true, Exported: true}}
	require.Equal(t, guard.RuleGitSSHOverride, rule(git.Judge(ctx, callIn(vars, "git", "fetch"))))
	require.Equal(t, "", rule(git.Judge(ctx, callIn(vars, "git", "status"))))

	// A rule switched off lets the command pass.
	ctx = fakeContext{off: map[string]bool{guard.RuleGitPushForce: true}}
	require.Equal(t, "", rule(git.Judge(ctx, call("git", "push", "--force"))))
}

func TestRawCommandNamesDestructiveGitInText(t *testing.T) {
	t.Parallel()
	require.Equal(t, "git reset", git.RawCommand([]string{"git", "-C", "/r", "reset", "--hard"}))
	require.Equal(t, "", git.RawCommand([]string{"git", "log", "--oneline"}))
}
