package service_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/service"
)

// auditRow is a policy_audits row.
type auditRow struct {
	Seq                                             int64
	ID, RunID, Decision, Command, Source            string
	Attempt                                         *int
	Rule, Segment, Reason, Cwd, Mode, Origin, Agent *string
	Policies                                        []string
	Time                                            time.Time
}

func (b *bundle) audits() []auditRow {
	b.t.Helper()
	rows, err := b.DB.Query(b.Ctx, `SELECT seq, id, run_id, decision, command, source, attempt, rule, segment, reason,
		cwd, mode, origin, agent, policies, time FROM policy_audits ORDER BY seq`)
	require.NoError(b.t, err)
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var a auditRow
		require.NoError(b.t, rows.Scan(&a.Seq, &a.ID, &a.RunID, &a.Decision, &a.Command, &a.Source, &a.Attempt, &a.Rule,
			&a.Segment, &a.Reason, &a.Cwd, &a.Mode, &a.Origin, &a.Agent, &a.Policies, &a.Time))
		a.Time = a.Time.UTC()
		out = append(out, a)
	}
	require.NoError(b.t, rows.Err())
	return out
}

func TestPolicyAuditsAreProjectedOncePerDecision(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(service.DefaultConfig())
	block := &events.RunPolicyAudit{RunID: "r1", Attempt: 2, Command: "git reset --hard", Cwd: "/w", Decision: "block",
		Rule: "git.reset_hard", Segment: "git reset --hard", Reason: "destroys work", Mode: "default", Origin: "hook",
		Agent: "claude-code", Policies: []string{"global", "workspace:/w"}}
	msg, env, err := b.Pub.EventMsg(b.Ctx, block, bus.WithAttempt(2), bus.WithTime(at(0)))
	require.NoError(t, err)
	first, err := b.NATS.JS.PublishMsg(b.Ctx, msg)
	require.NoError(t, err)
	s1 := first.Sequence
	// The same decision appended again after the duplicate window is stored once.
	msg.Header.Set(nats.MsgIdHdr, env.ID+"-again")
	_, err = b.NATS.JS.PublishMsg(b.Ctx, msg)
	require.NoError(t, err)
	// An audit without attempt in its payload takes the envelope's.
	s3 := b.publish(&events.RunPolicyAudit{RunID: "r2", Command: "ls\x00", Decision: "allow"}, 1, at(1))
	b.WaitCheckpoint(readmodel.ProjectionPolicyAudits, s3, 10*time.Second)

	got := b.audits()
	require.Len(t, got, 2)
	require.Equal(t, auditRow{Seq: int64(s1), ID: got[0].ID, RunID: "r1", Decision: "block", Command: "git reset --hard",
		Source: "phantom/test/1", Attempt: ptr(2), Rule: ptr("git.reset_hard"), Segment: ptr("git reset --hard"),
		Reason: ptr("destroys work"), Cwd: ptr("/w"), Mode: ptr("default"), Origin: ptr("hook"), Agent: ptr("claude-code"),
		Policies: []string{"global", "workspace:/w"}, Time: at(0)}, got[0])
	require.Equal(t, env.ID, got[0].ID)
	require.Equal(t, auditRow{Seq: int64(s3), ID: got[1].ID, RunID: "r2", Decision: "allow", Command: "ls\uFFFD",
		Source: "phantom/test/1", Attempt: ptr(1), Policies: []string{}, Time: at(1)}, got[1])
	require.Equal(t, int64(s3), int64(b.Checkpoint(readmodel.ProjectionPolicyAudits)))
}

func TestGuardPoliciesFollowSavesAndDeletesAndRebuildAlike(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(service.DefaultConfig())
	ws := events.GuardPolicyID(events.GuardScopeWorkspace, "/w")
	b.publish(&events.GuardPolicySaved{PolicyID: "global", Scope: events.GuardScopeGlobal, Policy: events.GuardPolicy{Mode: "strict"}}, 0, at(0))
	b.publish(&events.GuardPolicySaved{PolicyID: ws, Scope: events.GuardScopeWorkspace, Target: "/w", Policy: events.GuardPolicy{Mode: "paranoid"}}, 0, at(1))
	last := b.publish(&events.GuardPolicySaved{PolicyID: ws, Scope: events.GuardScopeWorkspace, Target: "/w",
		Policy: events.GuardPolicy{RuleSwitches: map[string]bool{"git.push_force": false}}}, 0, at(2))
	audit := b.publish(&events.RunPolicyAudit{RunID: "r1", Command: "ls", Decision: "allow"}, 1, at(3))
	b.WaitCheckpoint(readmodel.ProjectionGuardPolicies, last, 10*time.Second)
	dump := func() []string {
		return b.Rows(`SELECT to_jsonb(g)::text FROM guard_policies g ORDER BY id`)
	}
	live := dump()
	require.Equal(t, []string{
		`{"id": "global", "seq": 1, "scope": "global", "policy": {"mode": "strict"}, "target": "", "updated_at": "2026-03-01T12:00:00+00:00"}`,
		`{"id": "` + ws + `", "seq": 3, "scope": "workspace", "policy": {"ruleSwitches": {"git.push_force": false}}, "target": "/w", "updated_at": "2026-03-01T12:00:00.002+00:00"}`,
	}, live)

	del := b.publish(&events.GuardPolicyDeleted{PolicyID: "global", Scope: events.GuardScopeGlobal}, 0, at(4))
	b.WaitCheckpoint(readmodel.ProjectionGuardPolicies, del, 10*time.Second)
	live = dump()
	require.Len(t, live, 1)
	// The two projections advance on their own consumers: the audit is read only once its own has passed it.
	b.WaitCheckpoint(readmodel.ProjectionPolicyAudits, audit, 10*time.Second)
	audits := b.audits()
	require.Len(t, audits, 1)

	for _, name := range []string{readmodel.ProjectionGuardPolicies, readmodel.ProjectionPolicyAudits} {
		require.NoError(t, p.svc.Rebuild(b.Ctx, name))
	}
	b.WaitCheckpoint(readmodel.ProjectionGuardPolicies, del, 10*time.Second)
	require.Eventually(t, func() bool { return len(b.audits()) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, live, dump())
	require.Equal(t, audits, b.audits())
}
