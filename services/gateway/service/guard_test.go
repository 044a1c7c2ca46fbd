package service_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// audit writes a policy_audits row as the projector does.
func (b *bundle) audit(seq int64, runID, decision, rule, command string) {
	b.t.Helper()
	_, err := b.db.Exec(b.ctx, `INSERT INTO policy_audits (seq, id, run_id, attempt, time, decision, rule, command, segment,
		reason, cwd, mode, origin, agent, policies, source)
		VALUES ($1, $2, $3, 1, $4, $5, NULLIF($6, ''), $7, NULLIF($7, ''), NULLIF($6, ''), '/w', 'default', 'hook', 'claude-code',
		'{global}', 'phantom/safety-guard/1')`,
		seq, "ev"+runID+decision+command, runID, time.Date(2026, 3, 1, 12, 0, int(seq), 0, time.UTC), decision, rule, command)
	require.NoError(b.t, err)
}

func (b *bundle) auditPage(t *testing.T, query string) api.PolicyAuditPage {
	t.Helper()
	res := b.get("/v1/policy-audits" + query)
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	var p api.PolicyAuditPage
	require.NoError(t, json.Unmarshal(res.body, &p))
	return p
}

func TestPolicyAuditsAreListedByRunAndDecision(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.Empty(t, b.auditPage(t, "").Audits)
	b.audit(5, "r1", "block", "git.reset_hard", "git reset --hard")
	b.audit(6, "r1", "allow", "", "ls")
	b.audit(9, "r2", "block", "rm.root_or_home", "rm -rf /")

	all := b.auditPage(t, "")
	require.Len(t, all.Audits, 3)
	require.Equal(t, []int64{9, 6, 5}, []int64{all.Audits[0].Seq, all.Audits[1].Seq, all.Audits[2].Seq}, "newest first")
	require.Nil(t, all.NextCursor)
	require.Equal(t, []string{"global"}, all.Audits[0].Policies)

	require.Len(t, b.auditPage(t, "?run=r1").Audits, 2)
	blocks := b.auditPage(t, "?decision=block")
	require.Len(t, blocks.Audits, 2)
	one := b.auditPage(t, "?run=r1&decision=block")
	require.Len(t, one.Audits, 1)
	require.Equal(t, "git.reset_hard", *one.Audits[0].Rule)

	// Paging by sequence: no overlap, no gap, even when decisions arrive meanwhile.
	p1 := b.auditPage(t, "?limit=2")
	require.Len(t, p1.Audits, 2)
	require.NotNil(t, p1.NextCursor)
	b.audit(12, "r3", "allow", "", "pwd")
	p2 := b.auditPage(t, "?limit=2&cursor="+url.QueryEscape(*p1.NextCursor))
	require.Len(t, p2.Audits, 1)
	require.Equal(t, int64(5), p2.Audits[0].Seq)
	require.Nil(t, p2.NextCursor)

	for q, field := range map[string]string{"?decision=maybe": "decision", "?run=a.b": "run", "?limit=500": "limit", "?cursor=zz": "cursor"} {
		res := b.get("/v1/policy-audits" + q)
		require.Equal(t, http.StatusBadRequest, res.status, q)
		require.Equal(t, field, res.problem(t).Field, q)
	}
}

func TestRunDetailCarriesItsPolicyDecisions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	seq := b.emit(&events.RunRequested{RunID: "r1", Spec: runs.Spec{Agent: "claude", Prompt: "p", Workspace: "/w"}})
	b.project(seq)
	var run api.Run
	res := b.get("/v1/runs/r1")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	require.NoError(t, json.Unmarshal(res.body, &run))
	require.Zero(t, run.Policy.Checks)
	require.Nil(t, run.Policy.LastDenial)

	b.audit(20, "r1", "block", "git.reset_hard", "git reset --hard")
	b.audit(21, "r1", "allow", "", "ls")
	b.audit(22, "r1", "block", "git.push_force", "git push -f")
	b.audit(23, "r2", "block", "rm.root_or_home", "rm -rf /")
	res = b.get("/v1/runs/r1")
	require.Equal(t, http.StatusOK, res.status)
	require.NoError(t, json.Unmarshal(res.body, &run))
	require.Equal(t, 3, run.Policy.Checks)
	require.Equal(t, 2, run.Policy.Denials)
	require.Equal(t, "git.push_force", *run.Policy.LastDenial.Rule)
	require.Equal(t, "git push -f", run.Policy.LastDenial.Command)

	// Listings stay lean: only a run's detail has its decisions.
	res = b.get("/v1/runs")
	require.Equal(t, http.StatusOK, res.status)
	require.NotContains(t, string(res.body), `"policy"`)
}

func TestGuardPoliciesAreSavedAsEventsAndListed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	body := map[string]any{"scope": "workspace", "target": "/home/me/src/app/", "policy": map[string]any{
		"mode": "strict", "ruleSwitches": map[string]bool{"git.push_force": false},
		"rules": []map[string]any{{"name": "no-publish", "command": "npm", "subcommand": "publish", "block_args": []string{"--access"}, "reason": "CI releases."}},
	}}
	data, err := json.Marshal(body)
	require.NoError(t, err)
	res := b.do(b.request(http.MethodPut, "/v1/guard/policies", data))
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	var saved struct{ ID, Scope, Target string }
	require.NoError(t, json.Unmarshal(res.body, &saved))
	id := events.GuardPolicyID(events.GuardScopeWorkspace, "/home/me/src/app")
	require.Equal(t, id, saved.ID)
	require.Equal(t, "/home/me/src/app", saved.Target, "the target is stored clean")

	stream, err := b.nats.JS.Stream(b.ctx, streams.Events)
	require.NoError(t, err)
	msg, err := stream.GetLastMsgForSubject(b.ctx, subjects.Event(events.AggregateGuardPolicy, id, "guard_policy.saved"))
	require.NoError(t, err)
	var ev events.GuardPolicySaved
	require.NoError(t, json.Unmarshal(msg.Data, &ev))
	require.Equal(t, "strict", ev.Policy.Mode)
	require.Equal(t, "no-publish", ev.Policy.Rules[0].Name)

	// Bad policies change nothing and name what is wrong.
	for _, c := range []struct {
		body  string
		field string
		want  string
	}{
		{`{"scope":"team","policy":{}}`, "scope", "scope must be global, workspace or profile"},
		{`{"scope":"workspace","target":"rel/dir","policy":{}}`, "target", "absolute"},
		{`{"scope":"global","target":"x","policy":{}}`, "target", "no target"},
		{`{"scope":"profile","target":"a b","policy":{}}`, "target", "profile name"},
		{`{"scope":"global","policy":{"mode":"lenient","ruleSwitches":{"rm.root_or_home":false}}}`, "policy", "catastrophic"},
		{`{"scope":"global","policy":{"rules":[{"name":"x","command":"git","reason":"r"}]}}`, "policy", "rules[0].block_args"},
		{`{"scope":"global","policy":{"colour":"red"}}`, "colour", ""},
	} {
		res := b.do(b.request(http.MethodPut, "/v1/guard/policies", []byte(c.body)))
		require.Equal(t, http.StatusBadRequest, res.status, c.body)
		p := res.problem(t)
		require.Equal(t, c.field, p.Field, c.body)
		require.Contains(t, p.Detail, c.want, c.body)
	}

	res = b.do(b.request(http.MethodDelete, "/v1/guard/policies?scope=workspace&target=/home/me/src/app", nil))
	require.Equal(t, http.StatusNoContent, res.status)
	_, err = stream.GetLastMsgForSubject(b.ctx, subjects.Event(events.AggregateGuardPolicy, id, "guard_policy.deleted"))
	require.NoError(t, err)

	// The list is the read model's.
	_, err = b.db.Exec(b.ctx, `INSERT INTO guard_policies (id, scope, target, policy, updated_at, seq) VALUES
		('profile-x', 'profile', 'release', '{"mode":"paranoid"}', now(), 3), ('global', 'global', '', '{}', now(), 1)`)
	require.NoError(t, err)
	res = b.get("/v1/guard/policies")
	require.Equal(t, http.StatusOK, res.status, string(res.body))
	var list struct {
		Policies []struct {
			ID, Scope, Target string
			Policy            map[string]any
		}
	}
	require.NoError(t, json.Unmarshal(res.body, &list))
	require.Len(t, list.Policies, 2)
	require.Equal(t, "global", list.Policies[0].Scope)
	require.Equal(t, "paranoid", list.Policies[1].Policy["mode"])
}
