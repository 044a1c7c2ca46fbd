package service_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/safety-guard/guard/guardtest"
	guardservice "github.com/phantom-run/phantom/services/safety-guard/service"
)

// startGuard runs a safety-guard service on the bundle's NATS.
func (b *bundle) startGuard() {
	nc, js := b.nats.Connect(b.t)
	guardtest.StartService(b.t, nc, js, guardservice.Config{})
}

func (b *bundle) audits(runID string, atLeast int) []*events.RunPolicyAudit {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, "run.policy_audit")},
	})
	require.NoError(b.t, err)
	var out []*events.RunPolicyAudit
	require.Eventually(b.t, func() bool {
		batch, err := c.FetchNoWait(100)
		require.NoError(b.t, err)
		for m := range batch.Messages() {
			ev, err := bus.DecodeEvent(m)
			require.NoError(b.t, err)
			out = append(out, ev.Payload.(*events.RunPolicyAudit))
		}
		return len(out) >= atLeast
	}, 10*time.Second, 20*time.Millisecond)
	return out
}

func TestGitCommandsPassTheSafetyGuard(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startGuard()
	repo := newRepo(t, t.TempDir())
	r := b.prepare(rpc.WorktreePrepareRequest{RunID: "g1", Attempt: 3, Workspace: repo})
	require.Empty(t, r.Error)

	// Every git command of the prepare was judged, and audited on the run.
	audits := b.audits("g1", 3)
	var commands []string
	for _, a := range audits {
		require.Equal(t, rpc.GuardOriginWorktree, a.Origin)
		require.Equal(t, "allow", a.Decision)
		require.Equal(t, 3, a.Attempt)
		commands = append(commands, a.Command)
	}
	require.Contains(t, commands, "git -C "+repo+" rev-parse --show-toplevel")
	require.Contains(t, commands, "git -C "+repo+" worktree add -b phantom/g1 "+r.Dir+" "+r.BaseRef)

	// Force removal discards work: blocked, and audited, by default...
	require.NoError(t, os.WriteFile(filepath.Join(r.Dir, "dirty.txt"), []byte("x"), 0o644))
	got := b.remove("g1", true)
	require.False(t, got.Removed)
	require.Contains(t, got.Error, "git.worktree_remove_force")
	blocked := false
	require.Eventually(t, func() bool {
		for _, a := range b.audits("g1", 1) {
			blocked = blocked || (a.Decision == "block" && a.Rule == "git.worktree_remove_force")
		}
		return blocked
	}, 10*time.Second, 50*time.Millisecond)

	// ...and allowed once a policy switches the rule off.
	_, err := bus.NewPublisher(b.nats.JS, "phantom/gateway/test").Event(b.ctx, events.GuardPolicySaved{
		PolicyID: "global", Scope: events.GuardScopeGlobal,
		Policy: events.GuardPolicy{RuleSwitches: map[string]bool{"git.worktree_remove_force": false}},
	})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.remove("g1", true).Removed }, 10*time.Second, 50*time.Millisecond)
	require.NoDirExists(t, r.Dir)

	// A workspace whose inspection the guard refuses is not taken for "no
	// repository" (which would run the agent in place): the prepare fails.
	_, err = bus.NewPublisher(b.nats.JS, "phantom/gateway/test").Event(b.ctx, events.GuardPolicySaved{
		PolicyID: "global", Scope: events.GuardScopeGlobal,
		Policy: events.GuardPolicy{Rules: []events.GuardRule{{Name: "no-toplevel", Command: "git", Subcommand: "rev-parse",
			BlockArgs: []string{"--show-toplevel"}, Reason: "not today"}}},
	})
	require.NoError(t, err)
	var refused rpc.WorktreePrepareReply
	require.Eventually(t, func() bool {
		refused = b.prepare(rpc.WorktreePrepareRequest{RunID: "g2", Workspace: repo})
		return refused.Code != ""
	}, 10*time.Second, 50*time.Millisecond)
	require.Equal(t, "worktree_failed", refused.Code)
	require.Contains(t, refused.Error, "custom:no-toplevel")
	require.Empty(t, refused.Dir)
}
