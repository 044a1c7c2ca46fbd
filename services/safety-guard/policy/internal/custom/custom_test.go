package custom_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/custom"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// fakeContext is all a custom rule needs to know.
type fakeContext struct{ rules []events.GuardRule }

func (f fakeContext) Rules() []events.GuardRule { return f.rules }

// shell is the shell state of a command nested depth levels deep.
type shell struct{ depth int }

func (s shell) Vars() map[string]family.Var { return nil }
func (s shell) Depth() int                  { return s.depth }

func call(words ...string) *family.Call { return nestedCall(0, words...) }

func nestedCall(depth int, words ...string) *family.Call {
	c := &family.Call{Seg: "seg", Shell: shell{depth}}
	for _, w := range words {
		c.Args = append(c.Args, family.Lit(w))
	}
	return c
}

func TestCustomRulesMatchCommandSubcommandAndArguments(t *testing.T) {
	t.Parallel()
	ctx := fakeContext{rules: []events.GuardRule{
		{Name: "no-add-all", Command: "git", Subcommand: "add", BlockArgs: []string{"-A", "--all"}, Reason: "stage files one by one"},
		{Name: "no-publish", Command: "npm", BlockArgs: []string{"publish"}, Reason: "CI publishes"},
	}}
	got := custom.Judge(ctx, call("/usr/bin/git", "-C", "/repo", "add", "-Ap"))
	require.Equal(t, &family.Finding{Rule: "custom:no-add-all", Reason: "[no-add-all] stage files one by one", Segment: "seg"}, got,
		"the path and global options are skipped, and -A is found in a cluster")
	require.Nil(t, custom.Judge(ctx, call("git", "commit", "-A")), "another subcommand")
	require.Nil(t, custom.Judge(ctx, call("git", "add", "file.go")))
	require.Equal(t, "custom:no-publish", custom.Judge(ctx, call("NPM.exe", "publish")).Rule)

	// Like upstream, git rules do not apply inside code handed to a shell;
	// the others do.
	require.Nil(t, custom.Judge(ctx, nestedCall(1, "git", "add", "-A")))
	require.NotNil(t, custom.Judge(ctx, nestedCall(1, "npm", "publish")))
}
