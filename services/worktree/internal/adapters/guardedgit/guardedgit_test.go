package guardedgit_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/services/worktree/internal/adapters/guardedgit"
)

type fakeGit struct{ ran [][]string }

func (f *fakeGit) Run(_ context.Context, dir string, args ...string) (string, error) {
	f.ran = append(f.ran, append([]string{dir}, args...))
	return "ok", nil
}

type fakeGuard struct {
	answers []rpc.GuardCheckReply
	asked   []rpc.GuardCheckRequest
}

func (f *fakeGuard) Check(_ context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	f.asked = append(f.asked, req)
	if len(f.answers) == 0 {
		return rpc.GuardCheckReply{}, errors.New("no answer")
	}
	a := f.answers[0]
	f.answers = f.answers[1:]
	return a, nil
}

func result(decision, rule string) rpc.GuardCheckReply {
	return rpc.GuardCheckReply{Decision: decision, Rule: rule, Reason: "because"}
}

func TestCommandsRunOnlyWhenAllowed(t *testing.T) {
	git, g := &fakeGit{}, &fakeGuard{answers: []rpc.GuardCheckReply{result("allow", ""), result("block", "git.worktree_remove_force")}}
	gg := guardedgit.New(git, g, []string{"HOME=/home/u", "SECRET_TOKEN=x"})
	out, err := gg.Run(context.Background(), "/repo dir", "worktree", "list", "--porcelain")
	require.NoError(t, err)
	require.Equal(t, "ok", out)
	require.Equal(t, "git -C '/repo dir' worktree list --porcelain", g.asked[0].Command)
	require.Equal(t, "/repo dir", g.asked[0].Cwd)
	require.Equal(t, rpc.GuardOriginWorktree, g.asked[0].Origin)
	require.Equal(t, map[string]string{"HOME": "/home/u"}, g.asked[0].Env)

	_, err = gg.Run(context.Background(), "/repo", "worktree", "remove", "--force", "/w/x")
	var blocked *guardedgit.BlockedError
	require.ErrorAs(t, err, &blocked)
	require.Equal(t, "git.worktree_remove_force", blocked.Rule)
	require.Len(t, git.ran, 1, "a blocked command is not run")

	_, err = gg.Run(context.Background(), "/repo", "status")
	require.ErrorContains(t, err, "could not ask the safety guard")
	require.Len(t, git.ran, 1)
}

func TestATimedOutDecisionIsAskedAgainOnce(t *testing.T) {
	git := &fakeGit{}
	g := &fakeGuard{answers: []rpc.GuardCheckReply{result("block", "engine.timeout"), result("allow", "")}}
	_, err := guardedgit.New(git, g, nil).Run(context.Background(), "/repo", "rev-parse", "HEAD")
	require.NoError(t, err)
	require.Len(t, g.asked, 2)

	g = &fakeGuard{answers: []rpc.GuardCheckReply{result("block", "engine.timeout"), result("block", "engine.timeout")}}
	_, err = guardedgit.New(git, g, nil).Run(context.Background(), "/repo", "rev-parse", "HEAD")
	require.ErrorContains(t, err, "engine.timeout")
	require.Len(t, g.asked, 2, "once, not forever")
}
