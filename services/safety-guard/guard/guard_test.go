package guard_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	cguard "github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/safety-guard/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

func ptr[T any](v T) *T { return &v }

func TestResolveCombinesLayersFieldByField(t *testing.T) {
	t.Parallel()
	layers := []guard.Layer{
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
	req, names, err := guard.Resolve(rpc.GuardCheckRequest{Command: "ls", Cwd: "/w", Shell: "powershell"}, cguard.ModeDefault, layers)
	require.NoError(t, err)
	require.Equal(t, []string{"global", "workspace:/w", "profile:p"}, names)
	require.Equal(t, cguard.ModeParanoidRm, req.Mode, "the last mode wins")
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
	req, names, err = guard.Resolve(rpc.GuardCheckRequest{Command: "ls", Mode: "default", RuleFiles: files}, cguard.ModeStrict, layers)
	require.NoError(t, err)
	require.Equal(t, cguard.ModeDefault, req.Mode)
	require.Equal(t, "rules:/w/.safety-net.json", names[len(names)-1])
	require.Equal(t, "project b", req.Rules[len(req.Rules)-1].Reason)
	require.Contains(t, req.Policy.ProtectedPaths, "/w/.safety-net.json")

	_, _, err = guard.Resolve(rpc.GuardCheckRequest{Command: "ls", RuleFiles: []rpc.GuardRuleFile{{Path: "rel.json", Content: "{}"}}}, 0, nil)
	require.ErrorContains(t, err, "ruleFiles[0]")
	_, _, err = guard.Resolve(rpc.GuardCheckRequest{Command: "ls", Shell: "fish"}, 0, nil)
	require.ErrorContains(t, err, "shell")
}

func TestProjectRuleFileIsFoundUpToTheRepositoryTop(t *testing.T) {
	t.Parallel()
	outer := t.TempDir()
	repo := filepath.Join(outer, "repo")
	deep := filepath.Join(repo, "a", "b")
	require.NoError(t, os.MkdirAll(deep, 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(repo, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(outer, ".safety-net.json"), []byte(`{}`), 0o644))
	require.Empty(t, guard.ProjectRuleFile(deep), "a file above the repository is not the project's")
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"), []byte(`{"version":1}`), 0o644))
	require.Equal(t, filepath.Join(repo, ".safety-net.json"), guard.ProjectRuleFile(deep))

	home := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(home, ".cc-safety-net"), 0o755))
	require.NoError(t, os.WriteFile(guard.UserRuleFile(home), []byte(`{"version":1,"rules":[]}`), 0o644))
	files, err := guard.ReadRuleFiles(deep, home)
	require.NoError(t, err)
	require.Len(t, files, 2)
	require.Equal(t, guard.UserRuleFile(home), files[0].Path, "the user's file first, so the project's wins")
	require.Equal(t, `{"version":1}`, files[1].Content)
}

func TestCommandEnvKeepsWhatTheEngineReadsAndNoSecrets(t *testing.T) {
	t.Parallel()
	env := guard.CommandEnv([]string{"HOME=/home/u", "TMPDIR=/tmp/x", "GIT_DIR=/r/.git", "GIT_TOKEN=s3cret",
		"ANTHROPIC_API_KEY=sk-ant-x", "PATH=/bin", "CODEX_HOME=/c", "broken"})
	require.Equal(t, map[string]string{"HOME": "/home/u", "TMPDIR": "/tmp/x", "GIT_DIR": "/r/.git", "CODEX_HOME": "/c"}, env)
}

func TestClientAsksTheServiceAndStampsTheRun(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	got := make(chan rpc.GuardCheckRequest, 1)
	sub, err := n.Conn.Subscribe(subjects.GuardCheck, func(m *nats.Msg) {
		var req rpc.GuardCheckRequest
		_ = json.Unmarshal(m.Data, &req)
		got <- req
		data, _ := json.Marshal(rpc.GuardCheckReply{Decision: "block", Rule: "custom:x", Reason: "because", Mode: "strict"})
		_ = m.Respond(data)
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	nc, _ := n.Connect(t)
	c := guard.New(nc)
	res, err := c.Check(guard.WithRun(context.Background(), "01JRUN", 3), rpc.GuardCheckRequest{Command: "ls", Origin: rpc.GuardOriginWorktree})
	require.NoError(t, err)
	require.False(t, res.Local)
	require.True(t, res.Blocked())
	require.Equal(t, "custom:x", res.Rule)
	req := <-got
	require.Equal(t, "01JRUN", req.RunID)
	require.Equal(t, 3, req.Attempt)
	require.Equal(t, rpc.GuardOriginWorktree, req.Origin)
}

func TestClientJudgesLocallyWhenTheServiceIsAbsent(t *testing.T) {
	t.Parallel()
	n := testenv.StartNATS(t)
	nc, _ := n.Connect(t)
	ctx := context.Background()
	c := guard.New(nc, guard.WithTimeout(300*time.Millisecond))
	res, err := c.Check(ctx, rpc.GuardCheckRequest{Command: "git reset --hard", Cwd: t.TempDir()})
	require.NoError(t, err)
	require.True(t, res.Local)
	require.Error(t, res.Unreachable)
	require.Equal(t, "block", res.Decision)
	require.Equal(t, "git.reset_hard", res.Rule)
	res, err = c.Check(ctx, rpc.GuardCheckRequest{Command: "git status", Cwd: t.TempDir()})
	require.NoError(t, err)
	require.Equal(t, "allow", res.Decision)

	// Strict mode fails closed.
	res, err = c.Check(ctx, rpc.GuardCheckRequest{Command: "git status", Mode: "strict"})
	require.NoError(t, err)
	require.Equal(t, "block", res.Decision)
	require.Equal(t, cguard.RuleUnavailable, res.Rule)

	// Without the fallback, the caller gets the error.
	_, err = guard.New(nc, guard.WithTimeout(300*time.Millisecond), guard.WithoutLocalFallback()).Check(ctx, rpc.GuardCheckRequest{Command: "ls"})
	require.ErrorContains(t, err, "could not reach the safety guard")
}
