package service_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

func (b *testBundle) publish(t *testing.T, ev events.Payload) {
	t.Helper()
	_, err := bus.NewPublisher(b.nats.JS, "phantom/test/1").Event(b.ctx, ev)
	require.NoError(t, err)
}

func savePolicy(scope, target string, p events.GuardPolicy) events.GuardPolicySaved {
	return events.GuardPolicySaved{PolicyID: events.GuardPolicyID(scope, target), Scope: scope, Target: target, Policy: p}
}

var blockPublish = events.GuardRule{Name: "no-publish", Command: "npm", Subcommand: "publish", BlockArgs: []string{"--access"}, Reason: "Releases go through CI."}

// checkEventually repeats a check until want is the decision: a saved
// policy reaches the service through the event log, a moment later.
func (b *testBundle) checkEventually(t *testing.T, req rpc.GuardCheckRequest, want string) rpc.GuardCheckReply {
	t.Helper()
	var last rpc.GuardCheckReply
	require.Eventually(t, func() bool {
		last = b.check(t, req)
		return last.Decision == want
	}, 10*time.Second, 10*time.Millisecond, "decision on %q", req.Command)
	return last
}

func TestPoliciesOfEveryScopeApplyInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, service.Config{})
	root := t.TempDir()
	ws := filepath.Join(root, "repo")
	publish := rpc.GuardCheckRequest{Command: "npm publish --access public", Cwd: ws, Workspace: ws}
	require.Equal(t, "allow", b.check(t, publish).Decision)

	// A global custom rule applies to every request.
	b.publish(t, savePolicy(events.GuardScopeGlobal, "", events.GuardPolicy{Rules: []events.GuardRule{blockPublish}}))
	got := b.checkEventually(t, publish, "block")
	require.Equal(t, "custom:no-publish", got.Rule)
	require.Equal(t, []string{"global"}, got.Policies)

	// A workspace policy on a parent directory applies below it; its
	// switch turns a built-in rule off for that tree only.
	reset := rpc.GuardCheckRequest{Command: "git reset --hard", Cwd: ws, Workspace: ws}
	elsewhere := rpc.GuardCheckRequest{Command: "git reset --hard", Cwd: t.TempDir(), Workspace: "/srv/other"}
	b.publish(t, savePolicy(events.GuardScopeWorkspace, root, events.GuardPolicy{RuleSwitches: map[string]bool{"git.reset_hard": false}}))
	got = b.checkEventually(t, reset, "allow")
	require.Equal(t, []string{"global", "workspace:" + root}, got.Policies)
	require.Equal(t, "block", b.check(t, elsewhere).Decision)

	// A profile's mode wins over the workspace's; the request's own mode wins over both.
	unparsable := rpc.GuardCheckRequest{Command: "echo 'unterminated", Cwd: ws, Workspace: ws, Profile: "careful"}
	require.Equal(t, "allow", b.check(t, unparsable).Decision)
	b.publish(t, savePolicy(events.GuardScopeWorkspace, root, events.GuardPolicy{Mode: "paranoid"}))
	b.publish(t, savePolicy(events.GuardScopeProfile, "careful", events.GuardPolicy{Mode: "strict"}))
	got = b.checkEventually(t, unparsable, "block")
	require.Equal(t, "strict", got.Mode)
	require.Equal(t, []string{"global", "workspace:" + root, "profile:careful"}, got.Policies)
	unparsable.Mode = "default"
	require.Equal(t, "allow", b.check(t, unparsable).Decision)

	// The saved workspace policy replaced the earlier one: its switch is gone.
	require.Equal(t, "block", b.check(t, reset).Decision)

	// A deleted policy no longer applies.
	b.publish(t, events.GuardPolicyDeleted{PolicyID: events.GuardPolicyID(events.GuardScopeGlobal, ""), Scope: events.GuardScopeGlobal})
	b.checkEventually(t, publish, "allow")
}

func TestARunIsJudgedUnderThePoliciesOfItsWorkspaceAndProfile(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, service.Config{})
	ws := t.TempDir()
	const runID = "01JRUNPOLICY"
	b.publish(t, events.RunRequested{RunID: runID, Spec: runs.Spec{Agent: "claude", Prompt: "p", Workspace: ws, Profile: "release"}})
	b.publish(t, savePolicy(events.GuardScopeProfile, "release", events.GuardPolicy{Rules: []events.GuardRule{blockPublish}}))
	// The hook only knows the run (the runner stamps it): the service reads the rest.
	got := b.checkEventually(t, rpc.GuardCheckRequest{RunID: runID, Attempt: 1, Command: "npm publish --access public", Cwd: ws, Origin: rpc.GuardOriginHook}, "block")
	require.Equal(t, "custom:no-publish", got.Rule)
	require.Equal(t, []string{"profile:release"}, got.Policies)
	// A run the log does not know is judged under the global policies only.
	require.Equal(t, "allow", b.check(t, rpc.GuardCheckRequest{RunID: "01JUNKNOWN", Command: "npm publish --access public", Cwd: ws}).Decision)
}

func TestRuleFilesTheRequesterSendsApplyAndAreProtected(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, service.Config{})
	ws := t.TempDir()
	project := filepath.Join(ws, ".safety-net.json")
	files := []rpc.GuardRuleFile{
		{Path: "/home/u/.cc-safety-net/config.json", Content: `{"version":1,"rules":[{"name":"no-add-all","command":"git","subcommand":"add","block_args":["-A"],"reason":"user rule"}]}`},
		{Path: project, Content: `{"version":1,"rules":[{"name":"NO-ADD-ALL","command":"git","subcommand":"add","block_args":["."],"reason":"project rule"}]}`},
	}
	// The project's rule replaces the user's rule of the same name.
	got := b.check(t, rpc.GuardCheckRequest{Command: "git add .", Cwd: ws, RuleFiles: files})
	require.Equal(t, "block", got.Decision)
	require.Contains(t, got.Reason, "project rule")
	require.Equal(t, "allow", b.check(t, rpc.GuardCheckRequest{Command: "git add -A", Cwd: ws, RuleFiles: files}).Decision)
	require.Equal(t, []string{"rules:" + files[0].Path, "rules:" + project}, got.Policies)
	// The agent may not delete the rules that bind it.
	got = b.check(t, rpc.GuardCheckRequest{Command: "rm -f .safety-net.json", Cwd: ws, RuleFiles: files})
	require.Equal(t, "block", got.Decision)
	require.Equal(t, "policy.protected_path", got.Rule)

	// A rule file that cannot be loaded blocks, naming the file and the field.
	broken := []rpc.GuardRuleFile{{Path: project, Content: `{"version":1,"rules":[{"name":"x","command":"git","reason":"r"}]}`}}
	got = b.check(t, rpc.GuardCheckRequest{Command: "ls", Cwd: ws, RuleFiles: broken})
	require.Equal(t, "block", got.Decision)
	require.Equal(t, guard.RuleInvalidPolicy, got.Rule)
	require.Contains(t, got.Reason, project)
	require.Contains(t, got.Reason, "block_args")
}

func TestPoliciesSavedBeforeStartApplyToTheFirstCheck(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	b := &testBundle{ctx: ctx, nats: n}
	for i := 0; i < 50; i++ {
		b.publish(t, savePolicy(events.GuardScopeProfile, "p"+string(rune('a'+i%26))+string(rune('a'+i/26)), events.GuardPolicy{Mode: "strict"}))
	}
	b.publish(t, savePolicy(events.GuardScopeGlobal, "", events.GuardPolicy{Rules: []events.GuardRule{blockPublish}}))

	nc, js := n.Connect(t)
	checks := opshttp.NewChecks()
	svc, err := service.New(ctx, service.Config{}, daemon.Env{Name: "safety-guard", Instance: daemon.NewInstanceID(),
		Logger: testenv.Logger(t), Conn: nc, JS: js, Metrics: prometheus.NewRegistry(), Checks: checks})
	require.NoError(t, err)
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(sctx) }()
	t.Cleanup(func() { stop(); require.NoError(t, <-done) })
	// The very first answer already knows the global policy.
	var reply rpc.GuardCheckReply
	require.Eventually(t, func() bool {
		r, err := guardclient.New(n.Conn, guardclient.WithTimeout(200*time.Millisecond)).
			Check(ctx, rpc.GuardCheckRequest{Command: "npm publish --access public"})
		reply = r
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, "block", reply.Decision)
	require.Empty(t, checks.Run(ctx), "ready once the policies are loaded")
}
