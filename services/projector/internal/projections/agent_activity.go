package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
)

// AgentActivity keeps what agents said and did and what it cost, from
// run.semantic: messages (message, thinking and error events), tool_calls
// (a tool_use row completed by its tool_result) and usage (the latest
// running totals per run, attempt and model). Statements go in one pgx
// batch per projector batch; every write is guarded by the event's
// sequence, so a repeated event changes nothing.
type AgentActivity struct{}

var _ engine.Projection = AgentActivity{}

// Name implements engine.Projection.
func (AgentActivity) Name() string { return readmodel.ProjectionAgentActivity }

// Subjects implements engine.Projection.
func (AgentActivity) Subjects() []string {
	return []string{subjects.EventsOfType(events.AggregateRun, "run.semantic")}
}

// Tables implements engine.Projection.
func (AgentActivity) Tables() []string { return []string{"messages", "tool_calls", "usage"} }

const (
	insertMessageSQL = `INSERT INTO messages (seq, run_id, attempt, kind, role, message_id, agent, model, text, subtype, time)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), NULLIF($8, ''), $9, NULLIF($10, ''), $11)
ON CONFLICT (seq) DO NOTHING`
	toolUseSQL = `INSERT INTO tool_calls (run_id, attempt, tool_use_id, agent, name, input, status, started_at, seq)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, 'running', $7, $8)
ON CONFLICT (run_id, attempt, tool_use_id) DO UPDATE SET
  name = COALESCE(excluded.name, tool_calls.name), input = COALESCE(excluded.input, tool_calls.input),
  agent = COALESCE(excluded.agent, tool_calls.agent), started_at = LEAST(tool_calls.started_at, excluded.started_at)
WHERE tool_calls.seq <> excluded.seq`
	toolResultSQL = `INSERT INTO tool_calls (run_id, attempt, tool_use_id, agent, name, status, result, is_error, finished_at, seq)
VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), $6, $7, $8, $9, $10)
ON CONFLICT (run_id, attempt, tool_use_id) DO UPDATE SET
  status = excluded.status, result = excluded.result, is_error = excluded.is_error, finished_at = excluded.finished_at,
  name = COALESCE(tool_calls.name, excluded.name), seq = GREATEST(tool_calls.seq, excluded.seq)
WHERE tool_calls.seq < excluded.seq`
	usageSQL = `INSERT INTO usage (run_id, attempt, model, agent, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
  reasoning_tokens, cost_usd, cost_estimated, updated_at, seq)
VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (run_id, attempt, model) DO UPDATE SET
  agent = excluded.agent, input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,
  cache_read_tokens = excluded.cache_read_tokens, cache_creation_tokens = excluded.cache_creation_tokens,
  reasoning_tokens = excluded.reasoning_tokens, cost_usd = excluded.cost_usd, cost_estimated = excluded.cost_estimated,
  updated_at = excluded.updated_at, seq = excluded.seq
WHERE usage.seq < excluded.seq`
)

// Apply implements engine.Projection.
func (AgentActivity) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		s, ok := ev.Payload.(*events.RunSemantic)
		if !ok {
			continue
		}
		seq := int64(ev.Seq)
		attempt := s.Attempt
		if attempt == 0 {
			attempt = attemptOf(ev)
		}
		switch s.Kind {
		case events.SemanticMessage, events.SemanticThinking, events.SemanticError:
			role := s.Role
			if role == "" {
				role = "assistant"
			}
			q.Queue(insertMessageSQL, seq, s.RunID, attempt, s.Kind, role, s.MessageID, s.Agent, s.Model, s.Text, s.Subtype, ev.Time)
		case events.SemanticToolUse:
			if s.ToolUseID == "" {
				continue
			}
			var input any
			if len(s.ToolInput) > 0 && json.Valid(s.ToolInput) {
				input = string(s.ToolInput)
			}
			q.Queue(toolUseSQL, s.RunID, attempt, s.ToolUseID, s.Agent, s.ToolName, input, ev.Time, seq)
		case events.SemanticToolResult:
			if s.ToolUseID == "" {
				continue
			}
			status := "completed"
			if s.IsError {
				status = "failed"
			}
			q.Queue(toolResultSQL, s.RunID, attempt, s.ToolUseID, s.Agent, s.ToolName, status, s.Text, s.IsError, ev.Time, seq)
		case events.SemanticUsage:
			u := s.Usage
			if u == nil {
				return fmt.Errorf("usage event %d without figures: %w", ev.Seq, engine.ErrBadEvent)
			}
			model := u.Model
			if model == "" {
				model = s.Model
			}
			q.Queue(usageSQL, s.RunID, attempt, model, s.Agent, u.InputTokens, u.OutputTokens, u.CacheReadTokens,
				u.CacheCreationTokens, u.ReasoningTokens, u.CostUSD, u.CostEstimated, ev.Time, seq)
		}
	}
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("could not write agent activity: %w", err)
	}
	return nil
}

// attemptOf reads the ce-attempt header of an event.
func attemptOf(ev bus.Event) int {
	n, _ := strconv.Atoi(ev.Extensions["attempt"])
	return n
}
