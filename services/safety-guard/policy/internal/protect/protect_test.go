package protect_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/protect"
)

type fakeContext struct{ protected []string }

func (f fakeContext) Mode() guard.Mode         { return guard.ModeDefault }
func (f fakeContext) Switched(string) bool     { return false }
func (f fakeContext) Enabled(string) bool      { return true }
func (f fakeContext) RealPath(p string) string { return filepath.Clean(p) }
func (f fakeContext) Protected() []string      { return f.protected }
func (f fakeContext) Block(id, reason, seg string) *family.Finding {
	return &family.Finding{Rule: id, Reason: reason, Segment: seg}
}

func call(cwd string, words ...string) *family.Call {
	c := &family.Call{Cwd: cwd, Seg: "seg"}
	for _, w := range words {
		c.Args = append(c.Args, family.Lit(w))
	}
	return c
}

func TestProtectedFilesAndTheirDirectoriesCannotBeChanged(t *testing.T) {
	t.Parallel()
	ctx := fakeContext{protected: []string{"/w/app/.safety-net.json"}}
	f := protect.Judge(ctx, call("/w/app", "rm", ".safety-net.json"))
	require.Equal(t, guard.RuleProtectedPath, f.Rule)
	require.Contains(t, f.Reason, "/w/app/.safety-net.json")
	require.NotNil(t, protect.Judge(ctx, call("/w", "rm", "-r", "app")), "deleting the directory that holds it")
	require.NotNil(t, protect.Judge(ctx, call("/w/app", "sed", "-i", "s/a/b/", ".safety-net.json")))
	require.Nil(t, protect.Judge(ctx, call("/w/app", "sed", "s/a/b/", ".safety-net.json")), "sed without -i only reads")
	require.Nil(t, protect.Judge(ctx, call("/w/app", "cat", ".safety-net.json")))
	require.Nil(t, protect.Judge(ctx, call("/w", "cp", "-r", "app", "/tmp/x")), "copying the directory leaves the file")
	require.NotNil(t, protect.Write(ctx, "/w/app", family.Lit(".safety-net.json"), "seg"))
	require.Nil(t, protect.Judge(fakeContext{}, call("/w/app", "rm", ".safety-net.json")), "nothing protected")
}
