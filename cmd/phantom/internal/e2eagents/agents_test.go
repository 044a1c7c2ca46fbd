package e2eagents

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv/agentcli"
)

// cliCase is one CLI and what its scenarios need.
type cliCase struct {
	cli   string
	model string
	// tools is the harness that lets the agent run its shell tool unattended.
	tools map[string]any
	// maxTurns: the CLI honours harness.maxTurns (Codex has no such option;
	// Gemini CLI reads it only from a settings file, which it refuses under
	// a world-writable directory such as /tmp).
	maxTurns bool
	// interactive: the CLI keeps reading turns on stdin (Claude Code's
	// stream-json input; Codex and Gemini CLI have no such headless mode).
	interactive bool
}

var cases = []cliCase{
	{cli: agentcli.Claude, model: "claude-opus-4-8", tools: map[string]any{"autoApprove": true}, maxTurns: true, interactive: true},
	{cli: agentcli.Codex, model: "gpt-5.5", tools: map[string]any{"autoApprove": true}},
	{cli: agentcli.Gemini, model: "gemini-2.5-pro", tools: map[string]any{"autoApprove": true}},
}

// TestRealCLIs drives each real CLI through Phantom: a plain answer, a Bash
// tool call and its result, an API error, max turns, resume of a
// conversation, two interactive turns and cancel mid-run, each checked on
// the run's semantic events and in the read models.
func TestRealCLIs(t *testing.T) {
	for _, tc := range cases {
		t.Run(tc.cli, func(t *testing.T) {
			b := setup(t, tc.cli)
			spec := func(prompt string, extra map[string]any) map[string]any {
				s := map[string]any{"agent": tc.cli, "prompt": prompt, "workspace": b.ws, "isolation": "none", "model": tc.model}
				for k, v := range extra {
					s[k] = v
				}
				return s
			}

			t.Run("capabilities", func(t *testing.T) {
				var caps api.CapabilityList
				require.Eventually(t, func() bool {
					b.getJSON("/v1/capabilities", &caps)
					for _, c := range caps.Capabilities {
						if c.Agent == tc.cli && c.Version != nil {
							return true
						}
					}
					return false
				}, 60*time.Second, 100*time.Millisecond)
				for _, c := range caps.Capabilities {
					if c.Agent == tc.cli {
						require.Equal(t, "supported", c.Support)
						require.Equal(t, agentcli.Versions[tc.cli], *c.Version)
						require.NotEmpty(t, c.Models)
					}
				}
			})

			t.Run("plain answer", func(t *testing.T) {
				id := b.submit("/v1/runs", spec("say hello", nil))
				s := b.follow(id)
				require.Equal(t, "run.completed", s[len(s)-1].Type, s.String())
				k := s.kinds()
				require.Positive(t, k["session"], s.String())
				require.Positive(t, k["message"])
				require.Positive(t, k["usage"])
				require.Positive(t, k["result"])
				var said bool
				for _, sem := range s.semantics() {
					require.Equal(t, tc.cli, sem.Agent)
					if sem.Kind == "message" && strings.Contains(sem.Text, "Hello from fake model") {
						said = true
					}
				}
				require.True(t, said, "the answer is a message event")
				run := b.run(id, "completed")
				require.Contains(t, run["result"], "Hello from fake model")
				msgs, _, usage := b.readModels(id, 1)
				require.True(t, hasMessage(msgs, "assistant", "Hello from fake model"), "%v", msgs)
				total := usage["total"].(map[string]any)
				require.Positive(t, total["inputTokens"])
				require.Positive(t, total["costUsd"], "a cost, reported or estimated")
			})

			t.Run("bash tool", func(t *testing.T) {
				id := b.submit("/v1/runs", spec("FAKE_CMD=echo tool-ran-here", map[string]any{"harness": tc.tools}))
				s := b.follow(id)
				require.Equal(t, "run.completed", s[len(s)-1].Type, s.String())
				var use, result *events.RunSemantic
				for _, sem := range s.semantics() {
					sem := sem
					switch sem.Kind {
					case "tool_use":
						use = &sem
					case "tool_result":
						result = &sem
					}
				}
				require.NotNil(t, use, s.String())
				require.NotNil(t, result)
				require.Contains(t, string(use.ToolInput), "echo tool-ran-here")
				require.Equal(t, use.ToolUseID, result.ToolUseID)
				require.Contains(t, result.Text, "tool-ran-here")
				require.False(t, result.IsError)
				_, tools, _ := b.readModels(id, 1)
				require.Len(t, tools, 1)
				require.Equal(t, "completed", tools[0].Status)
				require.Contains(t, *tools[0].Result, "tool-ran-here")
				require.Contains(t, string(tools[0].Input), "echo tool-ran-here")
			})

			t.Run("api error", func(t *testing.T) {
				id := b.submit("/v1/runs", spec("FAKE_ERROR=400", nil))
				s := b.follow(id)
				failed := s.last("run.failed")
				require.NotNil(t, failed, s.String())
				require.Equal(t, "api_error", failed["reason"], failed["message"])
				require.Contains(t, failed["message"], "400")
				run := b.run(id, "failed")
				require.Equal(t, "api_error", run["reason"])
			})

			t.Run("max turns", func(t *testing.T) {
				if !tc.maxTurns {
					// A loop would run on; the option is dropped with a warning naming it.
					s := b.follow(b.submit("/v1/runs", spec("say hello", map[string]any{"harness": map[string]any{"maxTurns": 1}})))
					warn := s.last("run.compatibility_warning")
					require.NotNil(t, warn, "%s cannot honour maxTurns: a warning says so (%s)", tc.cli, s)
					require.Equal(t, "maxTurns", warn["option"])
					require.Equal(t, "run.completed", lastType(s))
					return
				}
				id := b.submit("/v1/runs", spec("FAKE_LOOP", map[string]any{"harness": merge(tc.tools, map[string]any{"maxTurns": 1})}))
				s := b.follow(id)
				failed := s.last("run.failed")
				require.NotNil(t, failed, s.String())
				require.Equal(t, "max_turns", failed["reason"])
				require.Equal(t, "max_turns", b.run(id, "failed")["reason"])
			})

			t.Run("conversation resume", func(t *testing.T) {
				code, data := b.do(http.MethodPost, "/v1/conversations", map[string]any{"title": "remember", "agent": tc.cli,
					"workspace": b.ws, "model": tc.model})
				require.Equal(t, http.StatusCreated, code, string(data))
				var conv api.Conversation
				require.NoError(t, json.Unmarshal(data, &conv))
				first := b.submit("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "remember the word banana"})
				require.Equal(t, "run.completed", lastType(b.follow(first)))
				b.run(first, "completed")
				var c api.ConversationDetail
				require.Eventually(t, func() bool {
					b.getJSON("/v1/conversations/"+conv.ID, &c)
					return c.ProviderSessionID != nil && c.MessageCount == 1
				}, 30*time.Second, 50*time.Millisecond)
				// Another agent is refused: a thread keeps its provider.
				code, _ = b.do(http.MethodPost, "/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "x", "agent": "fake"})
				require.Equal(t, http.StatusConflict, code)

				second := b.submit("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "FAKE_RECALL what was it?"})
				s := b.follow(second)
				require.Equal(t, "run.completed", lastType(s), s.String())
				started := s.last("run.started")
				require.Contains(t, strings.Join(toStrings(started["argv"]), " "), *c.ProviderSessionID, "the second run resumes the session")
				require.Contains(t, b.run(second, "completed")["result"], "remember the word banana", "the model saw the earlier turn")
				var detail api.ConversationDetail
				b.getJSON("/v1/conversations/"+conv.ID, &detail)
				require.Len(t, detail.Runs, 2)
				require.Equal(t, first, detail.Runs[0].RunID)
				require.Equal(t, second, detail.Runs[1].RunID)
			})

			t.Run("resume of an unknown session", func(t *testing.T) {
				// The provider does not know the session: the runner starts
				// the agent again once without resume, in the same attempt.
				id := b.submit("/v1/runs", spec("say hello", map[string]any{"harness": map[string]any{
					"resumeSessionId": "0badc0de-1111-2222-3333-444444444444"}}))
				s := b.follow(id)
				require.Equal(t, "run.completed", lastType(s), s.String())
				warn := s.last("run.warning")
				require.NotNil(t, warn, s.String())
				require.Equal(t, "resume_failed", warn["code"])
				require.Contains(t, b.run(id, "completed")["result"], "Hello from fake model")
			})

			t.Run("interactive", func(t *testing.T) {
				id := b.submit("/v1/sessions", spec("first turn", nil))
				if !tc.interactive {
					s := b.follow(id)
					warn := s.last("run.compatibility_warning")
					require.NotNil(t, warn, s.String())
					require.Equal(t, "interactive", warn["option"])
					require.Equal(t, "run.completed", lastType(s), "it runs one turn")
					return
				}
				results := 0
				b.readEvents(id, func(e api.RunEvent) bool {
					if e.Type == "run.semantic" && strings.Contains(string(e.Data), `"kind":"result"`) {
						results++
					}
					return results == 1
				})
				code, data := b.do(http.MethodPost, "/v1/sessions/"+id+"/input", map[string]any{"text": "FAKE_RECALL second turn"})
				require.Equal(t, http.StatusAccepted, code, string(data))
				results = 0
				b.readEvents(id, func(e api.RunEvent) bool {
					if e.Type == "run.semantic" && strings.Contains(string(e.Data), `"kind":"result"`) {
						results++
					}
					return results == 2
				})
				code, _ = b.do(http.MethodPost, "/v1/sessions/"+id+"/end", nil)
				require.Equal(t, http.StatusAccepted, code)
				s := b.follow(id)
				require.Equal(t, "run.completed", lastType(s), s.String())
				for _, typ := range []string{"session.opened", "session.input_accepted", "session.closed"} {
					require.Contains(t, s.types(), typ)
				}
				require.Equal(t, 2, s.kinds()["result"], "one result per turn")
				require.Contains(t, b.run(id, "completed")["result"], "Earlier: first turn")
				msgs, _, _ := b.readModels(id, 4)
				require.True(t, hasMessage(msgs, "user", "FAKE_RECALL second turn"), "%v", msgs)
			})

			t.Run("cancel mid-run", func(t *testing.T) {
				id := b.submit("/v1/runs", spec("FAKE_SLEEP=60s take your time", nil))
				b.readEvents(id, func(e api.RunEvent) bool { return e.Type == "run.started" })
				// The model request is in flight (the fake API holds it).
				require.Eventually(t, func() bool {
					for _, r := range b.api.AgentRequests() {
						if strings.Contains(r.LastUserText(), "take your time") {
							return true
						}
					}
					return false
				}, 60*time.Second, 50*time.Millisecond)
				pub := bus.NewPublisher(jsOf(t, b), "phantom/test/e2e")
				_, err := pub.Command(b.ctx, commands.CancelRun{RunID: id, Reason: "user asked", By: "e2e"})
				require.NoError(t, err)
				s := b.follow(id)
				require.Equal(t, "run.canceled", lastType(s), s.String())
				require.NotNil(t, s.last("run.cli_exit"))
				require.Equal(t, "canceled", b.run(id, "canceled")["status"])
			})
		})
	}
}

// TestClaudeHookGuardsBash checks the safety guard's hook injected into
// Claude Code: a destructive command is blocked and the agent is told why.
func TestClaudeHookGuardsBash(t *testing.T) {
	b := setup(t, agentcli.Claude)
	id := b.submit("/v1/runs", map[string]any{"agent": "claude", "prompt": "FAKE_CMD=git reset --hard", "workspace": b.ws,
		"isolation": "none", "harness": map[string]any{"autoApprove": true}})
	s := b.follow(id)
	require.Equal(t, "run.completed", lastType(s), s.String())
	var blocked bool
	for _, sem := range s.semantics() {
		if sem.Kind == "tool_result" && sem.IsError && strings.Contains(sem.Text, "BLOCKED") && strings.Contains(sem.Text, "reset --hard") {
			blocked = true
		}
	}
	require.True(t, blocked, "the hook's denial reached the agent: %v", s.semantics())
	started := s.last("run.started")
	require.Contains(t, strings.Join(toStrings(started["argv"]), " "), `"PreToolUse"`)
	audit := s.last("run.policy_audit")
	require.NotNil(t, audit, "the safety guard audited the decision: %s", s)
	require.Equal(t, "block", audit["decision"])
	require.Equal(t, "hook", audit["origin"])
	require.Equal(t, id, audit["runId"], "the runner stamps the run, whatever the hook claims")

	// The denial is in the run's read model.
	require.Eventually(t, func() bool {
		var run api.Run
		b.getJSON("/v1/runs/"+id, &run)
		return run.Policy != nil && run.Policy.Denials >= 1 && run.Policy.LastDenial != nil &&
			strings.Contains(run.Policy.LastDenial.Command, "reset --hard")
	}, 30*time.Second, 50*time.Millisecond)
}

// TestMissingCLIs runs each agent on a machine where its CLI is not installed.
func TestMissingCLIs(t *testing.T) {
	b := setup(t)
	for _, cli := range []string{agentcli.Claude, agentcli.Codex, agentcli.Gemini} {
		id := b.submit("/v1/runs", map[string]any{"agent": cli, "prompt": "hello", "workspace": b.ws, "isolation": "none"})
		s := b.follow(id)
		missing := s.last("run.cli_missing")
		require.NotNil(t, missing, s.String())
		require.Equal(t, "npm install -g "+agentcli.Packages[cli], missing["install"])
		require.Equal(t, "cli_missing", b.run(id, "failed")["reason"])
	}
	var caps api.CapabilityList
	b.getJSON("/v1/capabilities", &caps)
	support := map[string]string{}
	for _, c := range caps.Capabilities {
		support[c.Agent] = c.Support
	}
	require.Equal(t, map[string]string{"claude": "missing", "codex": "missing", "gemini": "missing", "fake": "supported"}, support)
}

func hasMessage(msgs []api.Message, role, text string) bool {
	for _, m := range msgs {
		if m.Role == role && strings.Contains(m.Text, text) {
			return true
		}
	}
	return false
}

func lastType(s stream) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1].Type
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func toStrings(v any) []string {
	var out []string
	if list, ok := v.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
