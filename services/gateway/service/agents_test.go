package service_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// These tests play the projector (rows written directly) and the runners
// (commands read from the bus); every answer is checked against
// contracts/openapi.yaml by b.do.

func (b *bundle) exec(sql string, args ...any) {
	b.t.Helper()
	_, err := b.db.Exec(b.ctx, sql, args...)
	require.NoError(b.t, err)
}

// runRow inserts a run in the read model.
func (b *bundle) runRow(id, status string, spec runs.Spec) {
	b.t.Helper()
	raw, err := json.Marshal(spec)
	require.NoError(b.t, err)
	now := time.Now().UTC()
	b.exec(`INSERT INTO runs (id, agent, provider, pool, prompt, workspace, spec, status, attempt, runner_id, created_at, updated_at, last_seq)
		VALUES ($1, $2, $2, 'default', $3, $4, $5, $6, 1, 'runner-1', $7, $7, 1)`, id, spec.Agent, spec.Prompt, spec.Workspace, raw, status, now)
}

// commandsTo subscribes to runner-1's commands (core NATS sees JetStream publishes).
func (b *bundle) commandsTo(runner string) *nats.Subscription {
	b.t.Helper()
	sub, err := b.nats.Conn.SubscribeSync(subjects.RunnerCommands(runner))
	require.NoError(b.t, err)
	require.NoError(b.t, b.nats.Conn.Flush())
	return sub
}

func next[T any](t *testing.T, sub *nats.Subscription) T {
	t.Helper()
	msg, err := sub.NextMsg(5 * time.Second)
	require.NoError(t, err)
	var v T
	require.NoError(t, json.Unmarshal(msg.Data, &v))
	return v
}

func TestActivityEndpoints(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runRow("run-1", "completed", runs.Spec{Agent: "claude", Prompt: "p", Workspace: "/w"})
	now := time.Now().UTC()
	b.exec(`INSERT INTO messages (seq, run_id, attempt, kind, role, message_id, agent, model, text, time) VALUES
		(10, 'run-1', 1, 'message', 'assistant', 'm1', 'claude', 'sonnet', 'hello', $1), (12, 'run-1', 1, 'thinking', 'assistant', 'm1', 'claude', NULL, 'hmm', $1)`, now)
	b.exec(`INSERT INTO tool_calls (run_id, attempt, tool_use_id, agent, name, input, status, result, is_error, started_at, finished_at, seq)
		VALUES ('run-1', 1, 't1', 'claude', 'Bash', '{"command":"ls"}', 'completed', 'a.txt', false, $1, $1, 11)`, now)
	b.exec(`INSERT INTO usage (run_id, attempt, model, agent, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
		reasoning_tokens, cost_usd, cost_estimated, updated_at, seq) VALUES
		('run-1', 1, 'sonnet', 'claude', 100, 10, 0, 0, 0, 0.5, false, $1, 13), ('run-1', 1, 'haiku', 'claude', 50, 5, 0, 0, 0, 0.25, true, $1, 14)`, now)
	b.exec(`INSERT INTO capability_snapshots (runner_id, agent, host, command, found, version, support, models, options, updated_at, seq)
		VALUES ('runner-1', 'claude', 'h', 'claude', true, '2.1.197', 'supported', '["opus"]', '["maxTurns"]', $1, 1)`, now)

	res := b.get("/v1/runs/run-1/messages")
	require.Equal(t, http.StatusOK, res.status)
	var msgs struct{ Messages []struct{ Kind, Text string } }
	require.NoError(t, json.Unmarshal(res.body, &msgs))
	require.Equal(t, "hello", msgs.Messages[0].Text)
	require.Equal(t, "thinking", msgs.Messages[1].Kind)

	res = b.get("/v1/runs/run-1/tool-calls")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"input":{"command":"ls"}`)

	res = b.get("/v1/runs/run-1/usage")
	require.Equal(t, http.StatusOK, res.status)
	var u api.RunUsage
	require.NoError(t, json.Unmarshal(res.body, &u))
	require.EqualValues(t, 150, u.Total.InputTokens)
	require.InDelta(t, 0.75, u.Total.CostUSD, 1e-9)
	require.True(t, u.Total.CostEstimated)

	require.Equal(t, http.StatusNotFound, b.get("/v1/runs/nope/messages").status)

	res = b.get("/v1/capabilities")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"version":"2.1.197"`)

	sub := b.commandsTo("runner-1")
	res = b.postJSON("/v1/capabilities/refresh", nil)
	require.Equal(t, http.StatusAccepted, res.status)
	require.JSONEq(t, `{"runners":["runner-1"]}`, string(res.body))
	require.Equal(t, "runner-1", next[commands.RunnerDetect](t, sub).RunnerID)
}

func TestSessionsAndPause(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.startScheduler(func(c commands.SubmitRun) events.Payload {
		return &events.RunQueued{RunID: c.RunID, Attempt: 1, Position: 1}
	})
	ws := t.TempDir()
	res := b.postJSON("/v1/sessions", map[string]any{"agent": "claude", "prompt": "hi", "workspace": ws})
	require.Equal(t, http.StatusAccepted, res.status)
	got := f.commands()
	require.Len(t, got, 1)
	require.True(t, *got[0].cmd.Spec.Interactive, "a session is an interactive run")

	yes := true
	b.runRow("run-i", "running", runs.Spec{Agent: "claude", Prompt: "hi", Workspace: ws, Interactive: &yes})
	b.runRow("run-batch", "running", runs.Spec{Agent: "claude", Prompt: "hi", Workspace: ws})
	b.runRow("run-done", "completed", runs.Spec{Agent: "claude", Prompt: "hi", Workspace: ws})
	sub := b.commandsTo("runner-1")

	res = b.postJSON("/v1/sessions/run-i/input", map[string]any{"text": "next turn"})
	require.Equal(t, http.StatusAccepted, res.status)
	in := next[commands.RunnerInput](t, sub)
	require.Equal(t, "next turn", in.Text)
	require.Equal(t, 1, in.Attempt)
	require.False(t, in.Close)
	res = b.postJSON("/v1/sessions/run-i/end", nil)
	require.Equal(t, http.StatusAccepted, res.status)
	require.True(t, next[commands.RunnerInput](t, sub).Close)

	require.Equal(t, http.StatusConflict, b.postJSON("/v1/sessions/run-batch/input", map[string]any{"text": "x"}).status)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/sessions/run-done/input", map[string]any{"text": "x"}).status)
	require.Equal(t, http.StatusBadRequest, b.postJSON("/v1/sessions/run-i/input", map[string]any{"text": " "}).status)
	require.Equal(t, http.StatusNotFound, b.postJSON("/v1/sessions/nope/input", map[string]any{"text": "x"}).status)

	require.Equal(t, http.StatusAccepted, b.postJSON("/v1/runs/run-batch/pause", nil).status)
	require.Equal(t, "run-batch", next[commands.RunnerPause](t, sub).RunID)
	require.Equal(t, http.StatusAccepted, b.postJSON("/v1/runs/run-batch/resume", nil).status)
	require.Equal(t, "run-batch", next[commands.RunnerResume](t, sub).RunID)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/runs/run-done/pause", nil).status)

	// Resume a finished session on its provider session.
	b.exec(`INSERT INTO run_events (seq, id, run_id, type, source, attempt, time, data) VALUES
		(99, 'e99', 'run-done', 'run.semantic', 's', 1, now(), '{"kind":"session","sessionId":"sess-7"}')`)
	res = b.postJSON("/v1/sessions/run-done/resume", map[string]any{"prompt": "and then?"})
	require.Equal(t, http.StatusAccepted, res.status)
	got = f.commands()
	last := got[len(got)-1].cmd.Spec
	require.Equal(t, "sess-7", last.Harness.ResumeSessionID)
	require.Equal(t, "and then?", last.Prompt)
	require.True(t, *last.Interactive)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/sessions/run-batch/resume", nil).status, "no session to resume")
}

func TestConversations(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.startScheduler(func(c commands.SubmitRun) events.Payload {
		return &events.RunQueued{RunID: c.RunID, Attempt: 1, Position: 1}
	})
	evs, err := b.nats.Conn.SubscribeSync(subjects.EventsRoot + ".conversation.>")
	require.NoError(t, err)
	ws := t.TempDir()
	res := b.postJSON("/v1/conversations", map[string]any{"title": "fix it", "agent": "claude", "workspace": ws})
	require.Equal(t, http.StatusCreated, res.status)
	var conv struct{ ID string }
	require.NoError(t, json.Unmarshal(res.body, &conv))
	created := next[events.ConversationCreated](t, evs)
	require.Equal(t, conv.ID, created.ConversationID)
	require.Equal(t, http.StatusBadRequest, b.postJSON("/v1/conversations", map[string]any{"agent": "claude", "workspace": "rel"}).status)

	// The projector's part.
	now := time.Now().UTC()
	b.exec(`INSERT INTO conversations (id, title, agent, provider, workspace, provider_session_id, created_at, updated_at, seq)
		VALUES ($1, 'fix it', 'claude', 'claude', $2, 'sess-1', $3, $3, 1)`, conv.ID, ws, now)

	res = b.postJSON("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "go on"})
	require.Equal(t, http.StatusAccepted, res.status, string(res.body))
	cmd := f.commands()[0].cmd
	require.Equal(t, conv.ID, cmd.ConversationID)
	require.Equal(t, "sess-1", cmd.Spec.Harness.ResumeSessionID)
	sent := next[events.ConversationMessageSent](t, evs)
	require.Equal(t, cmd.RunID, sent.RunID)

	b.exec(`UPDATE conversations SET last_run_id = $2 WHERE id = $1`, conv.ID, cmd.RunID)
	b.runRow(cmd.RunID, "running", cmd.Spec)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "more"}).status,
		"one message at a time")
	b.exec(`UPDATE runs SET status = 'completed' WHERE id = $1`, cmd.RunID)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "x", "agent": "codex"}).status,
		"a thread keeps one provider")
	b.exec(`INSERT INTO conversation_runs (conversation_id, run_id, position, text, created_at, seq) VALUES ($1, $2, 1, 'go on', $3, 2)`, conv.ID, cmd.RunID, now)

	res = b.get("/v1/conversations/" + conv.ID)
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"status":"completed"`)
	res = b.get("/v1/conversations")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), conv.ID)

	req := b.request(http.MethodPatch, "/v1/conversations/"+conv.ID, []byte(`{"title":"renamed"}`))
	require.Equal(t, http.StatusAccepted, b.do(req).status)
	require.Equal(t, "renamed", next[events.ConversationRenamed](t, evs).Title)
	require.Equal(t, http.StatusAccepted, b.postJSON("/v1/conversations/"+conv.ID+"/archive", nil).status)
	next[events.ConversationArchived](t, evs)
	b.exec(`UPDATE conversations SET archived = true WHERE id = $1`, conv.ID)
	require.Equal(t, http.StatusConflict, b.postJSON("/v1/conversations/"+conv.ID+"/messages", map[string]any{"text": "x"}).status,
		"an archived conversation refuses messages")
	require.Equal(t, http.StatusNotFound, b.get("/v1/conversations/nope").status)
}
