package service_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
)

// blockForcedRemoval decides as the safety guard does by default about the
// worktree's own git commands: forced worktree removal discards changes.
func blockForcedRemoval(req rpc.GuardCheckRequest) rpc.GuardCheckReply {
	if strings.Contains(req.Command, " worktree remove --force ") {
		return rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleGitWorktreeRemove, Reason: "git worktree remove --force can delete uncommitted changes."}
	}
	return rpc.GuardCheckReply{Decision: guard.Allow}
}

func TestGitCommandsPassTheSafetyGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "g1", Attempt: 3, Workspace: repo})
	require.Empty(t, r.Error)

	// Every git command of the prepare was asked about first, as the
	// command line it is, stamped with the run so the guard audits it.
	var commands []string
	for _, req := range b.guard.Requests() {
		if req.RunID == "" {
			continue // the start's reconciliation, about no run
		}
		require.Equal(t, rpc.GuardOriginWorktree, req.Origin)
		require.Equal(t, "g1", req.RunID)
		require.Equal(t, 3, req.Attempt)
		commands = append(commands, req.Command)
	}
	require.Contains(t, commands, "git -C "+repo+" rev-parse --show-toplevel")
	require.Contains(t, commands, "git -C "+repo+" worktree add -b phantom/g1 "+r.Dir+" "+r.BaseRef)

	// A command the guard blocks does not run, and the request names the rule.
	require.NoError(t, os.WriteFile(filepath.Join(r.Dir, "dirty.txt"), []byte("x"), 0o644))
	got := b.remove("g1", true)
	require.False(t, got.Removed)
	require.Contains(t, got.Error, "git.worktree_remove_force")
	require.DirExists(t, r.Dir)
	last := b.guard.Requests()[len(b.guard.Requests())-1]
	require.Contains(t, last.Command, " worktree remove --force ")
	require.Equal(t, "g1", last.RunID)

	// Once the guard allows it (a policy switched the rule off), it runs.
	b.guard.Judge(func(rpc.GuardCheckRequest) rpc.GuardCheckReply { return rpc.GuardCheckReply{Decision: guard.Allow} })
	require.True(t, b.remove("g1", true).Removed)
	require.NoDirExists(t, r.Dir)

	// A workspace whose inspection the guard refuses is not taken for "no
	// repository" (which would run the agent in place): the prepare fails.
	b.guard.Judge(func(req rpc.GuardCheckRequest) rpc.GuardCheckReply {
		if strings.HasSuffix(req.Command, " rev-parse --show-toplevel") {
			return rpc.GuardCheckReply{Decision: guard.Block, Rule: "custom:no-toplevel", Reason: "[no-toplevel] not today"}
		}
		return rpc.GuardCheckReply{Decision: guard.Allow}
	})
	refused := b.prepare(rpc.WorktreePrepareRequest{RunID: "g2", Workspace: repo})
	require.Equal(t, "worktree_failed", refused.Code)
	require.Contains(t, refused.Error, "custom:no-toplevel")
	require.Empty(t, refused.Dir)
}

// Phantom's own git commands fail closed: when the guard cannot be asked,
// nothing runs and the prepare fails saying so.
func TestWithoutTheSafetyGuardNoGitCommandRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	repo := newRepo(t, t.TempDir())
	b.guard.Judge(func(rpc.GuardCheckRequest) rpc.GuardCheckReply {
		// What a relay answers when it lost NATS: no decision.
		return rpc.GuardCheckReply{Error: "could not reach NATS"}
	})
	got := b.prepare(rpc.WorktreePrepareRequest{RunID: "nog", Workspace: repo})
	require.Equal(t, "worktree_failed", got.Code)
	require.Contains(t, got.Error, "could not ask the safety guard")
	require.Empty(t, got.Dir)
	require.NotEmpty(t, b.guard.Requests())
	require.Empty(t, git(t, repo, "branch", "--list", "phantom/nog"), "no branch was made")
}
