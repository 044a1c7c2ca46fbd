package hookcmd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/safety-guard/guardtest"
	"github.com/phantom-run/phantom/services/safety-guard/hookcmd"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

func TestMain(m *testing.M) {
	// The process tests run this test binary as `<binary> guard hook`.
	hookcmd.MainIfRequested()
	os.Exit(m.Run())
}

// claudePayload is a Claude Code PreToolUse hook input, as the CLI writes it.
func claudePayload(command, cwd string) string {
	b, _ := json.Marshal(map[string]any{
		"session_id": "c6c26797-7a0d-4789-9081-20e1016bd075", "transcript_path": "/tmp/t.jsonl", "cwd": cwd,
		"permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
		"tool_input": map[string]any{"command": command, "description": "Run it"}, "tool_use_id": "toolu_1",
	})
	return string(b)
}

type claudeAnswer struct {
	HookSpecificOutput struct {
		HookEventName            string `json:"hookEventName"`
		PermissionDecision       string `json:"permissionDecision"`
		PermissionDecisionReason string `json:"permissionDecisionReason"`
	} `json:"hookSpecificOutput"`
}

// runHook runs the hook in process and returns stdout, stderr and the exit code.
func runHook(t *testing.T, stdin string, env []string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := hookcmd.Run(context.Background(), args, hookcmd.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Environ: env})
	return out.String(), errb.String(), code
}

func denial(t *testing.T, stdout string) claudeAnswer {
	t.Helper()
	var a claudeAnswer
	require.NoError(t, json.Unmarshal([]byte(stdout), &a), "stdout %q", stdout)
	require.Equal(t, "PreToolUse", a.HookSpecificOutput.HookEventName)
	require.Equal(t, "deny", a.HookSpecificOutput.PermissionDecision)
	return a
}

type bundle struct {
	ctx  context.Context
	nats *testenv.NATS
}

// setup starts NATS and a real safety-guard service.
func setup(t testing.TB) *bundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	nc, js := n.Connect(t)
	guardtest.StartService(t, nc, js, service.Config{})
	return &bundle{ctx: ctx, nats: n}
}

func (b *bundle) audits(t *testing.T, runID string, n int) []*events.RunPolicyAudit {
	t.Helper()
	cons, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, "run.policy_audit")},
	})
	require.NoError(t, err)
	var out []*events.RunPolicyAudit
	require.Eventually(t, func() bool {
		batch, err := cons.FetchNoWait(10)
		require.NoError(t, err)
		for m := range batch.Messages() {
			ev, err := bus.DecodeEvent(m)
			require.NoError(t, err)
			out = append(out, ev.Payload.(*events.RunPolicyAudit))
		}
		return len(out) >= n
	}, 10*time.Second, 20*time.Millisecond)
	return out
}

func TestHookAsksThroughTheRunnersRelayAndTheDecisionIsAudited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const runID = "01JHOOKRELAY"
	r := guardtest.Serve(t, b.nats.Conn, runID, 2)
	home, cwd := t.TempDir(), t.TempDir()
	env := []string{"PHANTOM_GUARD_SOCKET=" + r.Path, "HOME=" + home, "ANTHROPIC_API_KEY=sk-ant-secret", "PATH=/usr/bin"}

	out, _, code := runHook(t, claudePayload("git reset --hard HEAD~1", cwd), env)
	require.Equal(t, 0, code)
	reason := denial(t, out).HookSpecificOutput.PermissionDecisionReason
	require.Contains(t, reason, "BLOCKED by Safety Net")
	require.Contains(t, reason, "git reset --hard")

	out, _, code = runHook(t, claudePayload("git status", cwd), env)
	require.Equal(t, 0, code)
	require.Empty(t, out, "an allowed command gets no answer")

	req := r.Requests()[0]
	require.Equal(t, "git reset --hard HEAD~1", req.Command)
	require.Equal(t, cwd, req.Cwd)
	require.Equal(t, "claude-code", req.Agent)
	require.Equal(t, home, req.Env["HOME"])
	require.NotContains(t, req.Env, "ANTHROPIC_API_KEY", "the agent's secrets stay on the machine")
	require.Empty(t, req.Mode, "the configured policies decide the mode")

	// Audits are appended after the answer, each on its own: match them by command.
	byCommand := map[string]*events.RunPolicyAudit{}
	for _, a := range b.audits(t, runID, 2) {
		byCommand[a.Command] = a
	}
	blocked := byCommand["git reset --hard HEAD~1"]
	require.NotNil(t, blocked)
	require.Equal(t, "block", blocked.Decision)
	require.Equal(t, "git.reset_hard", blocked.Rule)
	require.Equal(t, rpc.GuardOriginHook, blocked.Origin)
	require.Equal(t, "claude-code", blocked.Agent)
	require.Equal(t, 2, blocked.Attempt)
	require.Equal(t, "allow", byCommand["git status"].Decision)
}

func TestHookJudgesLocallyWhenTheRelayCannotReachTheService(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := guardtest.Serve(t, b.nats.Conn, "01JHOOKDOWN", 1)
	r.SetDown(true)
	cwd := t.TempDir()
	env := []string{"PHANTOM_GUARD_SOCKET=" + r.Path, "HOME=" + t.TempDir()}
	out, stderr, _ := runHook(t, claudePayload("git reset --hard", cwd), env)
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "reset --hard")
	require.Contains(t, stderr, "judging locally")
	out, _, _ = runHook(t, claudePayload("git status", cwd), env)
	require.Empty(t, out)

	// Strict mode fails closed when the service cannot be reached.
	out, _, _ = runHook(t, claudePayload("git status", cwd), append(env, "PHANTOM_GUARD_MODE=strict"))
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "could not be reached")
	// So does a relay that is not there at all.
	out, _, _ = runHook(t, claudePayload("git status", cwd), []string{"PHANTOM_GUARD_SOCKET=/nonexistent/relay.sock"}, "--mode", "strict")
	denial(t, out)
}

func TestHookAsksTheServiceOverNATSOutsidePhantomRuns(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cwd := t.TempDir()
	// A global policy only the service knows.
	_, err := bus.NewPublisher(b.nats.JS, "phantom/test/1").Event(b.ctx, events.GuardPolicySaved{
		PolicyID: "global", Scope: events.GuardScopeGlobal,
		Policy: events.GuardPolicy{Rules: []events.GuardRule{{Name: "no-publish", Command: "npm", Subcommand: "publish", BlockArgs: []string{"--access"}, Reason: "Releases go through CI."}}},
	})
	require.NoError(t, err)
	env := []string{"PHANTOM_NATS_URL=" + b.nats.URL, "HOME=" + t.TempDir()}
	require.Eventually(t, func() bool {
		out, _, _ := runHook(t, claudePayload("npm publish --access public", cwd), env)
		return strings.Contains(out, "Releases go through CI.")
	}, 10*time.Second, 20*time.Millisecond)
}

func TestHookWithoutServiceJudgesLocallyWithTheProjectsRules(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(repo, ".git"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"),
		[]byte(`{"version":1,"rules":[{"name":"no-add-all","command":"git","subcommand":"add","block_args":["-A"],"reason":"Stage files one by one."}]}`), 0o644))
	sub := filepath.Join(repo, "src")
	require.NoError(t, os.Mkdir(sub, 0o755))
	env := []string{"HOME=" + t.TempDir()}
	out, _, _ := runHook(t, claudePayload("git add -A", sub), env)
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "Stage files one by one.")
	out, _, _ = runHook(t, claudePayload("rm .safety-net.json", repo), env)
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "BLOCKED")
	out, _, _ = runHook(t, claudePayload("git add README.md", sub), env)
	require.Empty(t, out)

	// A broken project file blocks, saying which file and field.
	require.NoError(t, os.WriteFile(filepath.Join(repo, ".safety-net.json"), []byte(`{"version":2}`), 0o644))
	out, _, _ = runHook(t, claudePayload("ls", sub), env)
	reason := denial(t, out).HookSpecificOutput.PermissionDecisionReason
	require.Contains(t, reason, filepath.Join(repo, ".safety-net.json"))
	require.Contains(t, reason, "version")
}

func TestHookSpeaksEachAgentsProtocol(t *testing.T) {
	t.Parallel()
	cwd := t.TempDir()
	env := []string{"HOME=" + t.TempDir()}
	gemini := `{"session_id":"s","cwd":"` + cwd + `","hook_event_name":"BeforeTool","tool_name":"run_shell_command","tool_input":{"command":"rm -rf /"}}`
	out, _, code := runHook(t, gemini, env)
	require.Equal(t, 0, code)
	var g struct{ Decision, Reason string }
	require.NoError(t, json.Unmarshal([]byte(out), &g))
	require.Equal(t, "deny", g.Decision)
	require.Contains(t, g.Reason, "rm -rf")

	// Codex sends Claude's shape, with an argv array as the command.
	codex := `{"hook_event_name":"PreToolUse","tool_name":"shell","cwd":"` + cwd + `","tool_input":{"command":["git","push","--force"]}}`
	out, _, _ = runHook(t, codex, env, "--agent", "codex")
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "push --force")

	// Other tools and events pass without a word.
	out, _, _ = runHook(t, `{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"x"}}`, env)
	require.Empty(t, out)

	// Unreadable input is allowed, except in strict mode.
	out, _, code = runHook(t, "{not json", env)
	require.Equal(t, 0, code)
	require.Empty(t, out)
	out, _, _ = runHook(t, "{not json", env, "--mode", "strict")
	require.Contains(t, denial(t, out).HookSpecificOutput.PermissionDecisionReason, "strict mode")

	_, stderr, code := runHook(t, "", env, "--agent", "vim")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--agent")
}

func TestAnyBinaryCallingMainIfRequestedIsTheHook(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "guard", "hook")
	cmd.Stdin = strings.NewReader(claudePayload("git reset --hard", t.TempDir()))
	cmd.Env = []string{"HOME=" + t.TempDir()}
	out, err := cmd.Output()
	require.NoError(t, err, "the hook always exits 0")
	denial(t, string(out))
}

// --help names the default wait for the service, as the code applies it.
func TestHelpStatesTheDefaultTimeout(t *testing.T) {
	t.Parallel()
	require.Equal(t, 5*time.Second, hookcmd.DefaultTimeout)
	_, stderr, code := runHook(t, "", nil, "--help")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "$PHANTOM_GUARD_HOOK_TIMEOUT bounds the wait (default 5s)")
}
