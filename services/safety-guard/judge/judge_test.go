package judge_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	guard "github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

func ptr[T any](v T) *T { return &v }

func TestResolveCombinesLayersFieldByField(t *testing.T) {
	t.Parallel()
	layers := []judge.Layer{
		{Name: "global", Policy: events.GuardPolicy{
			Mode:         "strict",
			Rules:        []events.GuardRule{{Name: "a", Command: "npm", BlockArgs: []string{"publish"}, Reason: "global a"}, {Name: "b", Command: "make", BlockArgs: []string{"deploy"}, Reason: "b"}},
			RuleSwitches: map[string]bool{"git.push_force": false, "rm.paranoid": true},
			AllowPaths:   []string{"/scratch"}, DisableSecrets: ptr(true),
		}},
		{Name: "workspace:/w", Policy: events.GuardPolicy{
			Rules:        []events.GuardRule{{Name: "A", Command: "npm", BlockArgs: []string{"unpublish"}, Reason: "workspace a"}},
			RuleSwitches: map[string]bool{"git.push_force": true},
			AllowPaths:   []string{"/cache"}, Wrappers: []string{"with-env"}, DisableSecrets: ptr(false),
		}},
		{Name: "profile:p", Policy: events.GuardPolicy{Mode: "paranoid_rm"}},
	}
	req, names, err := judge.Resolve(rpc.GuardCheckRequest{Command: "ls", Cwd: "/w", Shell: "powershell"}, guard.ModeDefault, layers)
	require.NoError(t, err)
	require.Equal(t, []string{"global", "workspace:/w", "profile:p"}, names)
	require.Equal(t, guard.ModeParanoidRm, req.Mode, "the last mode wins")
	require.Equal(t, policy.ShellPowerShell, req.Shell)
	require.Len(t, req.Rules, 2)
	require.Equal(t, "b", req.Rules[0].Name)
	require.Equal(t, "workspace a", req.Rules[1].Reason, "a later rule replaces one of the same name")
	require.Equal(t, map[string]bool{"git.push_force": true, "rm.paranoid": true}, req.Policy.RuleSwitches)
	require.Equal(t, []string{"/scratch", "/cache"}, req.Policy.AllowPaths)
	require.Equal(t, []string{"with-env"}, req.Policy.Wrappers)
	require.False(t, req.Policy.DisableSecrets)

	// The request's mode comes last; its rule files add layers and are protected.
	files := []rpc.GuardRuleFile{{Path: "/w/.safety-net.json", Content: `{"version":1,"rules":[{"name":"b","command":"make","block_args":["prod"],"reason":"project b"}]}`}}
	req, names, err = judge.Resolve(rpc.GuardCheckRequest{Command: "ls", Mode: "default", RuleFiles: files}, guard.ModeStrict, layers)
	require.NoError(t, err)
	require.Equal(t, guard.ModeDefault, req.Mode)
	require.Equal(t, "rules:/w/.safety-net.json", names[len(names)-1])
	require.Equal(t, "project b", req.Rules[len(req.Rules)-1].Reason)
	require.Contains(t, req.Policy.ProtectedPaths, "/w/.safety-net.json")

	_, _, err = judge.Resolve(rpc.GuardCheckRequest{Command: "ls", RuleFiles: []rpc.GuardRuleFile{{Path: "rel.json", Content: "{}"}}}, 0, nil)
	require.ErrorContains(t, err, "ruleFiles[0]")
	_, _, err = judge.Resolve(rpc.GuardCheckRequest{Command: "ls", Shell: "fish"}, 0, nil)
	require.ErrorContains(t, err, "shell")
}

func TestLocallyJudgesUnderTheRequestsOwnModeAndRuleFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	eng := policy.New()
	unreachable := errors.New("could not reach the safety guard: nats: no responders available for request")

	got := judge.Locally(ctx, eng, rpc.GuardCheckRequest{Command: "git reset --hard", Cwd: t.TempDir()}, unreachable)
	require.Equal(t, rpc.GuardCheckReply{Decision: guard.Block, Rule: guard.RuleGitResetHard, Segment: "git reset --hard",
		Reason: got.Reason, Mode: "default"}, got)
	require.Equal(t, guard.Allow, judge.Locally(ctx, eng, rpc.GuardCheckRequest{Command: "git status", Cwd: t.TempDir()}, unreachable).Decision)

	// The request's rule files apply.
	files := []rpc.GuardRuleFile{{Path: "/w/.safety-net.json", Content: `{"version":1,"rules":[{"name":"no-df","command":"docker","subcommand":"system","block_args":["df"],"reason":"not here"}]}`}}
	got = judge.Locally(ctx, eng, rpc.GuardCheckRequest{Command: "docker system df", RuleFiles: files}, unreachable)
	require.Equal(t, "custom:no-df", got.Rule)
	require.Equal(t, []string{"rules:/w/.safety-net.json"}, got.Policies)

	// Strict mode fails closed, saying why.
	got = judge.Locally(ctx, eng, rpc.GuardCheckRequest{Command: "git status", Mode: "strict"}, unreachable)
	require.Equal(t, guard.Block, got.Decision)
	require.Equal(t, guard.RuleUnavailable, got.Rule)
	require.Contains(t, got.Reason, "no responders")

	// A rule file that cannot be applied blocks.
	got = judge.Locally(ctx, eng, rpc.GuardCheckRequest{Command: "git status", RuleFiles: []rpc.GuardRuleFile{{Path: "/w/.safety-net.json", Content: `{"version":2}`}}}, unreachable)
	require.Equal(t, guard.RuleInvalidPolicy, got.Rule)
	require.Contains(t, got.Reason, "version: must be 1")
}
