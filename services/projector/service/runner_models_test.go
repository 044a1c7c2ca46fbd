package service_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/projector/service"
)

// TestRunnerReadModels projects what a runner and the gateway publish
// about agents, usage, capabilities and conversations, then rebuilds the
// tables from the stream and finds them identical.
func TestRunnerReadModels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p := b.start(service.DefaultConfig())
	cost := 0.0123
	pub := func(ms int, attempt int, e events.Payload) uint64 { return b.publish(e, attempt, at(ms)) }
	sem := func(e events.RunSemantic) events.Payload {
		e.RunID, e.Attempt, e.Agent = "run-a", 1, "claude"
		return &e
	}
	pub(0, 0, &events.ConversationCreated{ConversationID: "c1", Title: "fix", Agent: "claude", Provider: "claude", Workspace: "/w"})
	pub(1, 0, &events.RunRequested{RunID: "run-a", Spec: runs.Spec{Agent: "claude", Prompt: "first"}, ConversationID: "c1"})
	pub(1, 0, &events.ConversationMessageSent{ConversationID: "c1", RunID: "run-a", Text: "first"})
	pub(2, 1, sem(events.RunSemantic{Kind: "session", SessionID: "s-0"}))
	// A resume that failed and started afresh reports a second session: the
	// latest is the one the thread resumes.
	pub(3, 1, sem(events.RunSemantic{Kind: "session", SessionID: "s-1"}))
	// A run outside the thread reports its own session: the thread keeps its.
	pub(3, 0, &events.RunRequested{RunID: "run-x", Spec: runs.Spec{Agent: "claude", Prompt: "other"}})
	pub(3, 1, &events.RunSemantic{RunID: "run-x", Attempt: 1, Agent: "claude", Kind: "session", SessionID: "s-other"})
	pub(4, 1, sem(events.RunSemantic{Kind: "message", MessageID: "m1", Role: "assistant", Text: "I'll run that.", Model: "sonnet"}))
	pub(5, 1, sem(events.RunSemantic{Kind: "tool_use", ToolUseID: "t1", ToolName: "Bash", ToolInput: json.RawMessage(`{"command":"ls"}`)}))
	pub(6, 1, sem(events.RunSemantic{Kind: "usage", Model: "sonnet", Usage: &events.Usage{Model: "sonnet", InputTokens: 10, OutputTokens: 2}}))
	pub(7, 1, sem(events.RunSemantic{Kind: "tool_result", ToolUseID: "t1", Text: "a.txt", IsError: false}))
	lastSem := pub(8, 1, sem(events.RunSemantic{Kind: "usage", Model: "sonnet", Usage: &events.Usage{Model: "sonnet", InputTokens: 30, OutputTokens: 9, CostUSD: &cost}}))
	pub(9, 0, &events.ConversationRenamed{ConversationID: "c1", Title: "fix the tests"})
	lastConv := pub(10, 0, &events.ConversationMessageSent{ConversationID: "c1", RunID: "run-b", Text: "second"})
	pub(11, 0, &events.RunnerCapabilities{RunnerID: "r1", Host: "h", Agents: []events.AgentCapability{
		{Agent: "claude", Command: "claude", Found: true, Version: "2.1.197", Support: "supported", Models: []string{"opus"}, Options: []string{"maxTurns"}},
		{Agent: "codex", Command: "codex", Support: "missing", Reason: "npm install -g @openai/codex"}}})
	pub(12, 0, &events.RunnerCapabilities{RunnerID: "r2", Host: "h2", Agents: []events.AgentCapability{{Agent: "fake", Command: "x", Found: true, Support: "supported"}}})
	pub(13, 0, &events.RunnerCapabilities{RunnerID: "r1", Host: "h", Agents: []events.AgentCapability{
		{Agent: "claude", Command: "claude", Found: true, Version: "2.1.198", Support: "supported"}}})
	last := pub(14, 0, &events.RunnerDrained{RunnerID: "r2"})
	wait := func() {
		b.WaitCheckpoint(readmodel.ProjectionAgentActivity, lastSem, 30*time.Second)
		b.WaitCheckpoint(readmodel.ProjectionConversations, lastConv, 30*time.Second)
		b.WaitCheckpoint(readmodel.ProjectionCapabilities, last, 30*time.Second)
	}
	wait()
	dump := func() map[string][]string {
		return map[string][]string{
			"messages":  b.Rows(`SELECT to_jsonb(m)::text FROM messages m ORDER BY seq`),
			"tools":     b.Rows(`SELECT to_jsonb(c)::text FROM tool_calls c ORDER BY run_id, tool_use_id`),
			"usage":     b.Rows(`SELECT to_jsonb(u)::text FROM usage u ORDER BY run_id, model`),
			"caps":      b.Rows(`SELECT to_jsonb(c)::text FROM capability_snapshots c ORDER BY runner_id, agent`),
			"convs":     b.Rows(`SELECT to_jsonb(c)::text FROM conversations c ORDER BY id`),
			"conv_runs": b.Rows(`SELECT to_jsonb(c)::text FROM conversation_runs c ORDER BY conversation_id, position`),
			"run_convs": b.Rows(`SELECT to_jsonb(r)::text FROM run_conversations r ORDER BY run_id`),
		}
	}
	live := dump()
	require.Len(t, live["messages"], 1)
	require.Equal(t, []string{`completed|a.txt|{"command": "ls"}`}, b.Rows(`SELECT status || '|' || result || '|' || input::text FROM tool_calls`))
	require.Equal(t, []string{"30|9|0.0123|false"}, b.Rows(`SELECT input_tokens || '|' || output_tokens || '|' || cost_usd || '|' || cost_estimated FROM usage`))
	require.Equal(t, []string{"r1|claude|2.1.198"}, b.Rows(`SELECT runner_id || '|' || agent || '|' || version FROM capability_snapshots`),
		"the runner's second snapshot replaced the first; the drained runner's rows are gone")
	require.Equal(t, []string{"fix the tests|s-1|2|run-b"}, b.Rows(`SELECT title || '|' || provider_session_id || '|' || message_count || '|' || last_run_id FROM conversations`))
	require.Equal(t, []string{"1|run-a", "2|run-b"}, b.Rows(`SELECT position || '|' || run_id FROM conversation_runs ORDER BY position`))
	require.Equal(t, []string{"run-a|c1"}, b.Rows(`SELECT run_id || '|' || conversation_id FROM run_conversations`))

	for _, name := range []string{readmodel.ProjectionAgentActivity, readmodel.ProjectionCapabilities, readmodel.ProjectionConversations} {
		require.NoError(t, p.svc.Rebuild(b.Ctx, name))
	}
	wait()
	require.Equal(t, live, dump())
}
