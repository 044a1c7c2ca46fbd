package service_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/service"
)

func ptr[T any](v T) *T { return &v }

func semantics(evs []bus.Event) []*events.RunSemantic {
	var out []*events.RunSemantic
	for _, ev := range evs {
		if s, ok := ev.Payload.(*events.RunSemantic); ok {
			out = append(out, s)
		}
	}
	return out
}

func kindsOf(sem []*events.RunSemantic) []string {
	var out []string
	for _, s := range sem {
		out = append(out, s.Kind)
	}
	return out
}

func TestSemanticEventsFromTheAgentsOutput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-sem", service.Config{})
	b.dispatch("run-sem", runs.Spec{Prompt: "look tool=Bash:echo hi", Workspace: t.TempDir(), Isolation: "none"})
	evs := b.events("run-sem", 30*time.Second)
	sem := semantics(evs)
	require.Subset(t, kindsOf(sem), []string{"session", "message", "tool_use", "tool_result", "usage", "result"})
	for _, s := range sem {
		require.Equal(t, "fake", s.Agent)
		require.Equal(t, "run-sem", s.RunID)
		switch s.Kind {
		case "tool_use":
			require.Equal(t, "Bash", s.ToolName)
			require.JSONEq(t, `{"command":"echo hi","description":"Run requested command"}`, string(s.ToolInput))
		case "usage":
			require.NotNil(t, s.Usage.CostUSD)
		case "session":
			require.NotEmpty(t, s.SessionID)
		}
	}
	require.Equal(t, "look", find[*events.RunCompleted](t, evs).Result)
	// Each parsed event follows the chunk that carried its line.
	first := -1
	for i, ev := range evs {
		if ev.Type == "run.chunk.stdout" && first < 0 {
			first = i
		}
		if ev.Type == "run.semantic" {
			require.Greater(t, i, first)
		}
	}
}

// secretCorpus are fake secrets of the formats the runner redacts.
var secretCorpus = []string{
	"sk-ant-api03-Xk2f9QmZr7LpT4vB8nW1cY6dH3jK0sA5eU9iO2pG7qR4tV",
	"ghp_16C7e42F292c6912E7710c838347Ae178B4a",
	"AKIAIOSFODNN7EXAMPLE",
	"xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
	"AIzaSyD3xMpL9vQ2rT7uW1yZ4aB6cE8fH0jK5nP",
}

// TestSecretsNeverLeaveTheRunner feeds secrets through the fake agent (in
// its prompt, which it echoes as messages and result, in a tool's input and
// on stderr) and a provider token through the runner's own environment, and
// checks that none reaches the event stream or the runner's logs.
func TestSecretsNeverLeaveTheRunner(t *testing.T) {
	b := setup(t)
	const providerToken = "provider-token-0123456789-abcdef"
	t.Setenv("MY_PROVIDER_API_KEY", providerToken)
	var logs syncBuffer
	cfg := service.Config{Host: host, KillGrace: 2 * time.Second, Heartbeat: 500 * time.Millisecond}
	env := daemon.Env{Name: "runner", Instance: "r-secret", Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Conn: b.nats.Conn, JS: b.nats.JS, Metrics: prometheus.NewRegistry()}
	svc, err := service.New(b.ctx, cfg, env)
	require.NoError(t, err)
	b.run(t, "runner", svc.Run, b.ctx)

	prompt := "keys " + strings.Join(secretCorpus, " ") + " token " + providerToken +
		` tool="Bash:curl -H 'Authorization: Bearer ` + secretCorpus[1] + `'" stderr="leaked ` + secretCorpus[0] + `" exit=1`
	b.dispatch("run-secret", runs.Spec{Prompt: prompt, Workspace: t.TempDir(), Isolation: "none"})
	evs := b.events("run-secret", 30*time.Second)
	require.NotEmpty(t, semantics(evs))
	find[*events.RunStarted](t, evs)
	find[*events.RunChunkStderr](t, evs)
	for _, ev := range evs {
		for _, s := range append(secretCorpus, providerToken) {
			require.NotContains(t, string(ev.Data), s, "%s leaks a secret", ev.Type)
		}
	}
	require.Contains(t, string(find[*events.RunChunkStdout](t, evs).Data), "[REDACTED]")
	for _, s := range append(secretCorpus, providerToken) {
		require.NotContains(t, logs.String(), s, "the logs leak a secret")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInteractiveSessionTakesInputUntilEnded(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-int", service.Config{})
	b.dispatch("run-int", runs.Spec{Prompt: "first", Workspace: t.TempDir(), Isolation: "none", Interactive: ptr(true)})
	b.waitFor("run-int", "session.opened", 20*time.Second)
	b.waitForOutput("run-int", `"result":"first"`, 20*time.Second)
	_, err := b.pub.Command(b.ctx, commands.RunnerInput{RunnerID: "r-int", RunID: "run-int", Attempt: 1, InputID: "in-1", Text: "second turn"})
	require.NoError(t, err)
	b.waitForOutput("run-int", `"result":"second turn"`, 20*time.Second)
	_, err = b.pub.Command(b.ctx, commands.RunnerInput{RunnerID: "r-int", RunID: "run-int", Attempt: 1, InputID: "in-2", Close: true})
	require.NoError(t, err)
	evs := b.events("run-int", 30*time.Second)
	accepted := find[*events.SessionInputAccepted](t, evs)
	require.Equal(t, "in-1", accepted.InputID)
	require.Equal(t, "second turn", accepted.Text)
	require.Equal(t, "ended", find[*events.SessionClosed](t, evs).Reason)
	results := 0
	for _, s := range semantics(evs) {
		if s.Kind == "result" {
			results++
		}
	}
	require.Equal(t, 2, results, "one result per turn")
	require.Equal(t, "second turn", find[*events.RunCompleted](t, evs).Result)
}

func TestPauseAndResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-pause", service.Config{})
	b.dispatch("run-pause", runs.Spec{Prompt: "hi lines=40 interval=25ms", Workspace: t.TempDir(), Isolation: "none"})
	b.waitForOutput("run-pause", `"subtype":"init"`, 20*time.Second)
	_, err := b.pub.Command(b.ctx, commands.RunnerPause{RunnerID: "r-pause", RunID: "run-pause", Attempt: 1, By: "me"})
	require.NoError(t, err)
	paused := b.waitFor("run-pause", "run.paused", 10*time.Second).Payload.(*events.RunPaused)
	require.Equal(t, "me", paused.By)
	time.Sleep(1500 * time.Millisecond) // the whole run would be over by now
	_, err = b.pub.Command(b.ctx, commands.RunnerResume{RunnerID: "r-pause", RunID: "run-pause", Attempt: 1, By: "me"})
	require.NoError(t, err)
	evs := b.events("run-pause", 30*time.Second)
	find[*events.RunResumed](t, evs)
	done := find[*events.RunCompleted](t, evs)
	require.GreaterOrEqual(t, done.DurationMs, int64(1500), "the paused agent made no progress")
}

func TestBudgetStopsTheRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-budget", service.Config{KillGrace: time.Second})
	b.dispatch("run-budget", runs.Spec{Prompt: "spend lines=400 interval=20ms", Workspace: t.TempDir(), Isolation: "none",
		Budget: &runs.Budget{MaxTokens: ptr(int64(50))}})
	evs := b.events("run-budget", 30*time.Second)
	failed := find[*events.RunFailed](t, evs)
	require.Equal(t, runs.ReasonBudgetExceeded, failed.Reason)
	require.Contains(t, failed.Message, "over its budget of 50")
	require.Less(t, failed.DurationMs, int64(6000), "stopped long before the agent's 8 s")
}

func TestCapabilitiesCustomAgentsAndBlockedVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	agentsFile := filepath.Join(dir, "agents.toml")
	require.NoError(t, os.WriteFile(agentsFile, []byte(`
[agents.echo]
command = "echo"
args = ["said: {{.Prompt}}"]
version_args = ["--version"]
install = "apt install coreutils"
[agents.echo.versions]
supported = ">= 1"

[agents.oldecho]
command = "echo"
args = ["{{.Prompt}}"]
[agents.oldecho.versions]
blocked = ">= 0"

[agents.claude]
command = "phantom-no-such-claude"
`), 0o600))
	sub, err := b.nats.Conn.SubscribeSync(subjects.EventsOfType(events.AggregateRunner, "runner.capabilities"))
	require.NoError(t, err)
	b.startRunner("r-caps", service.Config{AgentsFile: agentsFile})
	caps := nextCapabilities(t, sub)
	byAgent := map[string]events.AgentCapability{}
	for _, c := range caps.Agents {
		byAgent[c.Agent] = c
	}
	require.Equal(t, "supported", byAgent["echo"].Support, byAgent["echo"].Reason)
	require.NotEmpty(t, byAgent["echo"].Version)
	require.Equal(t, "blocked", byAgent["oldecho"].Support)
	require.Equal(t, "missing", byAgent["claude"].Support)
	require.Contains(t, byAgent["claude"].Reason, "npm install -g @anthropic-ai/claude-code")
	require.Equal(t, "supported", byAgent["fake"].Support)
	require.Contains(t, byAgent["claude"].Options, "maxTurns")
	require.Equal(t, []string{"sonnet", "opus", "haiku"}, byAgent["claude"].Models)

	// On demand.
	_, err = b.pub.Command(b.ctx, commands.RunnerDetect{RunnerID: "r-caps"})
	require.NoError(t, err)
	nextCapabilities(t, sub)

	b.dispatch("run-echo", runs.Spec{Agent: "echo", Prompt: "hello", Workspace: dir, Isolation: "none"})
	evs := b.events("run-echo", 30*time.Second)
	out, _ := stdout(t, evs)
	require.Equal(t, "said: hello\n", out)
	find[*events.RunCompleted](t, evs)

	b.dispatch("run-old", runs.Spec{Agent: "oldecho", Prompt: "hello", Workspace: dir, Isolation: "none"})
	failed := find[*events.RunFailed](t, b.events("run-old", 30*time.Second))
	require.Equal(t, runs.ReasonCLIBlocked, failed.Reason)
	require.Contains(t, failed.Message, "blocked")

	b.dispatch("run-noclaude", runs.Spec{Agent: "claude", Prompt: "hello", Workspace: dir, Isolation: "none"})
	evs = b.events("run-noclaude", 30*time.Second)
	require.Equal(t, runs.ReasonCLIMissing, find[*events.RunFailed](t, evs).Reason)
	require.Equal(t, "npm install -g @anthropic-ai/claude-code", find[*events.RunCLIMissing](t, evs).Install)
}

func nextCapabilities(t *testing.T, sub *nats.Subscription) events.RunnerCapabilities {
	t.Helper()
	msg, err := sub.NextMsg(20 * time.Second)
	require.NoError(t, err)
	var caps events.RunnerCapabilities
	require.NoError(t, json.Unmarshal(msg.Data, &caps))
	return caps
}

// TestARetryResumesTheEarlierAttemptsSession plays crash recovery: attempt
// 1 dies after its agent reported its session; attempt 2 of the run, on the
// same host, resumes that session.
func TestARetryResumesTheEarlierAttemptsSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.startRunner("r-resume", service.Config{})
	ws := t.TempDir()
	b.dispatch("run-resume", runs.Spec{Prompt: "work crash", Workspace: ws, Isolation: "none"})
	evs := b.events("run-resume", 30*time.Second)
	require.Equal(t, runs.ReasonKilled, find[*events.RunFailed](t, evs).Reason)
	var session string
	for _, s := range semantics(evs) {
		if s.Kind == "session" {
			session = s.SessionID
		}
	}
	require.NotEmpty(t, session)
	b.dispatch("run-resume", runs.Spec{Prompt: "work", Workspace: ws, Isolation: "none"}, func(d *commands.Dispatch) { d.Attempt = 2 })
	started := b.attemptEvent("run-resume", 2, "run.started").Payload.(*events.RunStarted)
	require.Contains(t, started.Argv, "session="+session)
}

// attemptEvent waits for an event of a later attempt.
func (b *bundle) attemptEvent(runID string, attempt int, typ string) bus.Event {
	b.t.Helper()
	c, err := b.nats.JS.OrderedConsumer(b.ctx, streams.Events, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subjects.Event(events.AggregateRun, runID, typ)}})
	require.NoError(b.t, err)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		msg, err := c.Next(jetstream.FetchMaxWait(time.Second))
		if err != nil {
			continue
		}
		ev, err := bus.DecodeEvent(msg)
		require.NoError(b.t, err)
		if ev.Extensions["attempt"] == strconv.Itoa(attempt) {
			return ev
		}
	}
	b.t.Fatalf("no %s of attempt %d of run %s", typ, attempt, runID)
	return bus.Event{}
}

// TestClaudeLaunchGetsTheHarnessAndTheGuardHook runs a stand-in for Claude
// Code (a script that records its arguments and environment, then asks the
// guard socket as the hook would) and checks the launch: harness flags, the
// dropped options, the hook in --settings, the socket answered with the
// run's identity.
func TestClaudeLaunchGetsTheHarnessAndTheGuardHook(t *testing.T) {
	t.Parallel()
	b := setup(t)
	dir := t.TempDir()
	record := filepath.Join(dir, "record")
	script := filepath.Join(dir, "claude")
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
if [ "$1" = --version ]; then echo "2.1.197 (Claude Code)"; exit 0; fi
for a in "$@"; do printf '%s\n' "$a"; done > `+record+`.args
env > `+record+`.env
echo '{"type":"system","subtype":"init","session_id":"s-1","model":"sonnet"}'
echo '{"type":"result","subtype":"success","is_error":false,"result":"{\"answer\":42}","session_id":"s-1","total_cost_usd":0.01}'
`), 0o755))
	agentsFile := filepath.Join(dir, "agents.toml")
	require.NoError(t, os.WriteFile(agentsFile, []byte("[agents.claude]\ncommand = \""+script+"\"\n"), 0o600))
	guard := answerGuard(b.guard)
	b.startRunner("r-claude", service.Config{AgentsFile: agentsFile, GuardHook: true, GuardHookCommand: "'/opt/phantom' guard hook"})
	b.dispatch("run-claude", runs.Spec{Agent: "claude", Prompt: "answer", Workspace: dir, Isolation: "none",
		Harness: &runs.Harness{MaxTurns: ptr(2), Sandbox: "read-only", DisallowedTools: []string{"WebFetch"},
			OutputSchema: json.RawMessage(`{"type":"object","required":["answer"],"properties":{"answer":{"type":"integer"}}}`),
			ShellPrelude: "echo prepared > prelude.txt", Env: map[string]string{"EXTRA": "yes"}}})
	evs := b.events("run-claude", 30*time.Second)
	find[*events.RunCompleted](t, evs)
	require.JSONEq(t, `{"answer":42}`, string(find[*events.RunStructuredOutput](t, evs).Output))
	warn := find[*events.RunCompatibilityWarning](t, evs)
	require.Equal(t, "sandbox", warn.Option)
	require.FileExists(t, filepath.Join(dir, "prelude.txt"))
	require.Equal(t, "prelude", find[*events.RunProgress](t, evs).Phase)

	args, err := os.ReadFile(record + ".args")
	require.NoError(t, err)
	argv := strings.Split(strings.TrimSpace(string(args)), "\n")
	require.Contains(t, argv, "--max-turns")
	require.Contains(t, argv, "--disallowedTools")
	settings := argv[len(argv)-1]
	require.Equal(t, "--settings", argv[len(argv)-2])
	require.JSONEq(t, `{"hooks":{"PreToolUse":[{"matcher":"Bash","hooks":[{"type":"command","command":"'/opt/phantom' guard hook"}]}]}}`, settings)
	envText, err := os.ReadFile(record + ".env")
	require.NoError(t, err)
	require.Contains(t, string(envText), "PHANTOM_RUN_ID=run-claude\n")
	require.Contains(t, string(envText), "PHANTOM_RUN_ATTEMPT=1\n")
	require.Contains(t, string(envText), "EXTRA=yes\n")
	require.Contains(t, string(envText), "PHANTOM_GUARD_SOCKET=")
	require.NotContains(t, string(envText), "PHANTOM_NATS_URL")
	// The prelude was judged, as the runner's own command.
	req := <-guard
	require.Equal(t, "echo prepared > prelude.txt", req.Command)
	require.Equal(t, "runner", req.Origin)

	// A blocked prelude fails the run before the agent starts.
	b.dispatch("run-blocked", runs.Spec{Agent: "claude", Prompt: "answer", Workspace: dir, Isolation: "none",
		Harness: &runs.Harness{ShellPrelude: "rm -rf /"}})
	failed := find[*events.RunFailed](t, b.events("run-blocked", 30*time.Second))
	require.Equal(t, runs.ReasonPolicyDenied, failed.Reason)
}

// answerGuard makes the stand-in guard block everything containing "rm -rf"
// and hand over the runner's own checks.
func answerGuard(g *testenv.Guard) <-chan rpc.GuardCheckRequest {
	got := make(chan rpc.GuardCheckRequest, 16)
	g.Judge(func(req rpc.GuardCheckRequest) rpc.GuardCheckReply {
		if req.Origin == rpc.GuardOriginRunner {
			select {
			case got <- req:
			default:
			}
		}
		if strings.Contains(req.Command, "rm -rf") {
			return rpc.GuardCheckReply{Decision: "block", Rule: "rm-rf-root", Reason: "deletes everything"}
		}
		return rpc.GuardCheckReply{Decision: "allow"}
	})
	return got
}
