package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/cli"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv/agentcli"
	"github.com/phantom-run/phantom/pkg/testenv/modelapi"
	"github.com/phantom-run/phantom/services/safety-guard/guardtest"
)

// gitRepo makes a repository with one commit.
func gitRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "start"},
	} {
		out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput()
		require.NoError(t, err, "git %v: %s", args, out)
	}
	return dir
}

// TestClaudeCodesGitResetHardIsBlockedByTheGuard drives the real Claude
// Code CLI, offline against the fake model API, with `phantom guard hook` as
// its PreToolUse hook (this test binary is the hook: TestMain calls
// cli.GuardHookIfRequested). The model asks to run `git reset --hard`; the
// hook asks the safety guard of a running Phantom through a run's relay
// socket (the runner's contract), the guard blocks it, Claude Code gives
// the agent the reason as the tool's result, and the decision is in the
// event stream, in policy_audits and in the run's detail.
func TestClaudeCodesGitResetHardIsBlockedByTheGuard(t *testing.T) {
	claude := agentcli.Find(t, agentcli.Claude)
	// Stopping Phantom at the end stops the run's stand-in agent at once.
	b := setup(t, map[string]string{"PHANTOM_RUNNER_DRAIN_TIMEOUT": "0s"})
	model := modelapi.Start(t)
	repo := gitRepo(t)

	// A run of the workspace, whose stand-in agent waits while the real
	// Claude Code works in the run's worktree: the worktree service made
	// it (its own git commands judged and audited on the run), and the
	// relay stamps the run on every check of the hook, as the runner does.
	runID := b.submit(t, map[string]any{"agent": "fake", "prompt": "sleep=2m", "workspace": repo})
	running := b.waitStatus(t, runID, "running")
	cwd, _ := running["cwd"].(string)
	require.NotEmpty(t, cwd)
	require.NotEqual(t, repo, cwd, "the run works in a worktree of its own")
	// The work `git reset --hard` would destroy.
	require.NoError(t, os.WriteFile(filepath.Join(cwd, "work.txt"), []byte("uncommitted work\n"), 0o644))
	require.NoError(t, exec.Command("git", "-C", cwd, "add", "work.txt").Run())
	js := mustJS(t, b)
	relay := guardtest.Serve(t, b.nc, runID, 1)

	exe, err := os.Executable()
	require.NoError(t, err)
	settings, err := json.Marshal(map[string]any{"hooks": map[string]any{"PreToolUse": []any{map[string]any{
		"matcher": "Bash",
		"hooks":   []any{map[string]any{"type": "command", "command": "'" + exe + "' guard hook"}},
	}}}})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, claude, "-p", "Start over.\nFAKE_CMD=git reset --hard",
		"--output-format", "stream-json", "--verbose", "--model", agentcli.Models[agentcli.Claude],
		"--permission-mode", "bypassPermissions", "--settings", string(settings))
	cmd.Dir = cwd
	cmd.Env = append(agentcli.Env(t, t.TempDir(), model.URL), "PATH="+os.Getenv("PATH"), "PHANTOM_GUARD_SOCKET="+relay.Path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "claude: %s\n%s", stderr.String(), stdout.String())

	// The hook asked through the relay, about that command, as Claude Code's hook.
	reqs := relay.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, "git reset --hard", reqs[0].Command)
	require.Equal(t, "claude-code", reqs[0].Agent)

	// Claude Code turned the denial into the tool's result...
	var toolResult struct {
		Content string `json:"content"`
		IsError bool   `json:"is_error"`
	}
	var denials []map[string]any
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		var line struct {
			Type    string `json:"type"`
			Message struct {
				Content []json.RawMessage `json:"content"`
			} `json:"message"`
			PermissionDenials []map[string]any `json:"permission_denials"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		switch line.Type {
		case "user":
			for _, c := range line.Message.Content {
				var block struct{ Type string }
				require.NoError(t, json.Unmarshal(c, &block))
				if block.Type == "tool_result" {
					require.NoError(t, json.Unmarshal(c, &toolResult))
				}
			}
		case "result":
			denials = line.PermissionDenials
		}
	}
	require.True(t, toolResult.IsError)
	require.Contains(t, toolResult.Content, "BLOCKED by Safety Net")
	require.Contains(t, toolResult.Content, "git reset --hard destroys all uncommitted changes")
	require.Len(t, denials, 1, "Claude Code lists the denied call")
	// ...which the model received in its next request.
	var told string
	for _, r := range model.AgentRequests() {
		if m, ok := r.LastToolResult(); ok {
			told = m.Text
		}
	}
	require.Contains(t, told, "git reset --hard destroys all uncommitted changes")
	// And nothing was reset.
	status, err := exec.Command("git", "-C", cwd, "status", "--porcelain").Output()
	require.NoError(t, err)
	require.Contains(t, string(status), "A  work.txt")

	// The decision is in the event stream, next to the allowed git commands
	// the worktree service ran for the run.
	cons, err := js.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, "run.policy_audit")},
	})
	require.NoError(t, err)
	var blocked *events.RunPolicyAudit
	worktreeChecks := 0
	for blocked == nil {
		msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
		require.NoError(t, err, "no run.policy_audit of the hook's denial")
		ev, err := bus.DecodeEvent(msg)
		require.NoError(t, err)
		switch a := ev.Payload.(*events.RunPolicyAudit); {
		case a.Origin == "worktree":
			require.Equal(t, "allow", a.Decision, a.Command)
			worktreeChecks++
		case a.Origin == "hook":
			blocked = a
		}
	}
	require.Positive(t, worktreeChecks)
	require.Equal(t, "block", blocked.Decision)
	require.Equal(t, "git.reset_hard", blocked.Rule)
	require.Equal(t, "git reset --hard", blocked.Command)
	require.Equal(t, "claude-code", blocked.Agent)
	require.Equal(t, cwd, blocked.Cwd)

	// ...in the run's read model...
	var run api.Run
	require.Eventually(t, func() bool {
		resp, data := b.do(t, http.MethodGet, "/v1/runs/"+runID, nil)
		return resp.StatusCode == http.StatusOK && json.Unmarshal(data, &run) == nil && run.Policy != nil && run.Policy.Denials == 1
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, "git.reset_hard", *run.Policy.LastDenial.Rule)
	require.Equal(t, "git reset --hard", run.Policy.LastDenial.Command)
	require.Contains(t, *run.Policy.LastDenial.Reason, "uncommitted changes")

	// ...and listed by the API and the CLI.
	resp, data := b.do(t, http.MethodGet, "/v1/policy-audits?decision=block&run="+runID, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(data), `"rule":"git.reset_hard"`)
	var out, errb bytes.Buffer
	code := cli.Main(b.ctx, cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			return map[string]string{"PHANTOM_URL": b.host.URL(), "PHANTOM_TOKEN": b.host.Token()}[k]
		}, Components: func() []up.Component { return nil },
	}, []string{"guard", "audits", "--run", runID})
	require.Equal(t, 0, code, errb.String())
	require.Contains(t, out.String(), "git.reset_hard")
	require.Contains(t, out.String(), "git reset --hard")
}

func mustJS(t *testing.T, b *testBundle) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(b.nc)
	require.NoError(t, err)
	return js
}
