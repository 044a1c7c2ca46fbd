package deletion_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// fakeContext is a machine without symlinks or git repositories, home
// /home/u, the command started in /w/app.
type fakeContext struct {
	execs  [][]string
	writes []string
}

func (f *fakeContext) Mode() guard.Mode         { return guard.ModeDefault }
func (f *fakeContext) Switched(string) bool     { return false }
func (f *fakeContext) Enabled(string) bool      { return true }
func (f *fakeContext) Home() string             { return "/home/u" }
func (f *fakeContext) StartDir() string         { return "/w/app" }
func (f *fakeContext) RealPath(p string) string { return filepath.Clean(p) }
func (f *fakeContext) TempRoots() []string      { return []string{"/tmp"} }
func (f *fakeContext) IsTempPath(p string) bool { return family.Within(filepath.Clean(p), "/tmp") }
func (f *fakeContext) AllowPaths() []string     { return nil }
func (f *fakeContext) GitMetadata(string) (paths, hooks []string) {
	return nil, nil
}
func (f *fakeContext) ChargeDerived(int, string) bool { return true }
func (f *fakeContext) Aborted() *family.Finding       { return nil }
func (f *fakeContext) Exec(c family.Call) *family.Finding {
	f.execs = append(f.execs, family.Vals(c.Args))
	return nil
}
func (f *fakeContext) NoteWrite(_ string, target family.Field, _ *string) {
	f.writes = append(f.writes, target.Val)
}
func (f *fakeContext) Block(id, reason, seg string) *family.Finding {
	return &family.Finding{Rule: id, Reason: reason, Segment: seg}
}

func judge(ctx deletion.Context, line string) string {
	c := &family.Call{Cwd: "/w/app", Seg: line}
	for _, w := range strings.Fields(line) {
		c.Args = append(c.Args, family.Lit(w))
	}
	if f := deletion.Judge(ctx, c); f != nil {
		return f.Rule
	}
	return ""
}

func TestRecursiveRemovalIsJudgedByItsTarget(t *testing.T) {
	t.Parallel()
	ctx := &fakeContext{}
	require.Equal(t, guard.RuleRmRootOrHome, judge(ctx, "rm -rf /"))
	require.Equal(t, guard.RuleRmRootOrHome, judge(ctx, "rm -r /home/u"))
	require.Equal(t, "", judge(ctx, "rm -rf build"), "inside the working directory")
	require.Equal(t, guard.RuleRmOutsideCwd, judge(ctx, "rm -rf ../other"))
	require.Equal(t, guard.RuleRmCwdSelf, judge(ctx, "rm -rf ."))
	require.Equal(t, "", judge(ctx, "rm -rf /tmp/build"), "a temp directory")
	require.Equal(t, guard.RuleRmGitMetadata, judge(ctx, "rm -rf .git"), ".git is never routine")
	require.Equal(t, "", judge(ctx, "rm ../notes.txt"), "not recursive")
	require.Equal(t, guard.RuleShred, judge(ctx, "shred secrets.txt"))
	require.Equal(t, guard.RuleDdDevice, judge(ctx, "dd if=x of=/dev/sda"))
	require.Equal(t, "", judge(ctx, "dd if=x of=/dev/null"))
}

func TestFindDeletesOnlyBelowTempDirectoriesAndHandsItsCommandsOn(t *testing.T) {
	t.Parallel()
	ctx := &fakeContext{}
	require.Equal(t, guard.RuleFindDelete, judge(ctx, "find . -name *.o -delete"))
	require.Equal(t, "", judge(ctx, "find /tmp/build -delete"))
	require.Equal(t, guard.RuleFindExecRm, judge(ctx, "find . -exec rm -rf {} ;"))
	require.Equal(t, "", judge(ctx, "find . -name *.go -exec gofmt -l {} ; -fprint /tmp/list"))
	require.Equal(t, [][]string{{"gofmt", "-l", "{}"}}, ctx.execs, "what -exec runs is judged by the walker")
	require.Equal(t, []string{"/tmp/list"}, ctx.writes)
}

func TestRawWordsOfRmAndFind(t *testing.T) {
	t.Parallel()
	require.Equal(t, "rm -rf", deletion.RawRm([]string{"rm", "-r", "--force", "x"}))
	require.Equal(t, "", deletion.RawRm([]string{"rm", "-r", "x"}))
	require.Equal(t, "find -exec rm -rf", deletion.RawFind([]string{"find", ".", "-exec", "rm", "-rf", "{}", ";"}))
}
