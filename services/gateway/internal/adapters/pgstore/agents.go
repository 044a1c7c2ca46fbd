package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/api"
)

// This file reads the runner's read models (migration 0200): messages,
// tool_calls, usage, capability_snapshots, conversations, conversation_runs.

// Messages lists a run's messages in stream order.
func (s *Store) Messages(ctx context.Context, runID string) ([]api.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT seq, run_id, attempt, kind, role, message_id, agent, model, text, subtype, time
		FROM messages WHERE run_id = $1 ORDER BY seq LIMIT 10000`, runID)
	if err != nil {
		return nil, fmt.Errorf("could not read the messages of run %s: %w", runID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.Message, error) {
		var m api.Message
		err := r.Scan(&m.Seq, &m.RunID, &m.Attempt, &m.Kind, &m.Role, &m.MessageID, &m.Agent, &m.Model, &m.Text, &m.Subtype, &m.Time)
		return m, err
	})
}

// ToolCalls lists a run's tool calls in the order they were made.
func (s *Store) ToolCalls(ctx context.Context, runID string) ([]api.ToolCall, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT run_id, attempt, tool_use_id, agent, name, input, status, result, is_error, started_at, finished_at
		FROM tool_calls WHERE run_id = $1 ORDER BY attempt, COALESCE(started_at, finished_at), seq LIMIT 10000`, runID)
	if err != nil {
		return nil, fmt.Errorf("could not read the tool calls of run %s: %w", runID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.ToolCall, error) {
		var c api.ToolCall
		var input []byte
		err := r.Scan(&c.RunID, &c.Attempt, &c.ToolUseID, &c.Agent, &c.Name, &input, &c.Status, &c.Result, &c.IsError, &c.StartedAt, &c.FinishedAt)
		if input != nil {
			c.Input = input
		} else {
			c.Input = []byte("null")
		}
		return c, err
	})
}

// Usage lists a run's usage per attempt and model.
func (s *Store) Usage(ctx context.Context, runID string) ([]api.Usage, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT attempt, model, agent, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,
		reasoning_tokens, cost_usd, cost_estimated FROM usage WHERE run_id = $1 ORDER BY attempt, model`, runID)
	if err != nil {
		return nil, fmt.Errorf("could not read the usage of run %s: %w", runID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.Usage, error) {
		var u api.Usage
		err := r.Scan(&u.Attempt, &u.Model, &u.Agent, &u.InputTokens, &u.OutputTokens, &u.CacheReadTokens, &u.CacheCreationTokens,
			&u.ReasoningTokens, &u.CostUSD, &u.CostEstimated)
		return u, err
	})
}

// Capabilities lists the capability snapshots by runner and agent.
func (s *Store) Capabilities(ctx context.Context) ([]api.Capability, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT runner_id, host, agent, command, found, version, support, reason, provider, default_model,
		plan_model, install, models, options, updated_at FROM capability_snapshots ORDER BY runner_id, agent`)
	if err != nil {
		return nil, fmt.Errorf("could not read the capabilities: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.Capability, error) {
		var c api.Capability
		err := r.Scan(&c.RunnerID, &c.Host, &c.Agent, &c.Command, &c.Found, &c.Version, &c.Support, &c.Reason, &c.Provider,
			&c.DefaultModel, &c.PlanModel, &c.Install, &c.Models, &c.Options, &c.UpdatedAt)
		return c, err
	})
}

// RunnerIDs lists the runners that reported capabilities.
func (s *Store) RunnerIDs(ctx context.Context) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT DISTINCT runner_id FROM capability_snapshots ORDER BY runner_id`)
	if err != nil {
		return nil, fmt.Errorf("could not read the runners: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

const conversationColumns = `id, title, agent, provider, workspace, model, profile, provider_session_id, archived, message_count,
	last_run_id, created_at, updated_at`

func scanConversation(r pgx.Row) (api.Conversation, error) {
	var c api.Conversation
	err := r.Scan(&c.ID, &c.Title, &c.Agent, &c.Provider, &c.Workspace, &c.Model, &c.Profile, &c.ProviderSessionID, &c.Archived,
		&c.MessageCount, &c.LastRunID, &c.CreatedAt, &c.UpdatedAt)
	return c, err
}

// Conversations lists conversations, most recently active first.
func (s *Store) Conversations(ctx context.Context, includeArchived bool, limit int) ([]api.Conversation, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT `+conversationColumns+` FROM conversations
		WHERE ($1::boolean OR NOT archived) ORDER BY updated_at DESC, id DESC LIMIT $2`, includeArchived, limit)
	if err != nil {
		return nil, fmt.Errorf("could not list conversations: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.Conversation, error) { return scanConversation(r) })
}

// Conversation returns one conversation.
func (s *Store) Conversation(ctx context.Context, id string) (api.Conversation, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	c, err := scanConversation(s.db.QueryRow(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("could not read conversation %s: %w", id, err)
	}
	return c, true, nil
}

// ConversationRuns lists a conversation's messages with their runs' state.
func (s *Store) ConversationRuns(ctx context.Context, id string) ([]api.ConversationRun, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT c.position, c.run_id, c.text, c.created_at, r.status, r.result
		FROM conversation_runs c LEFT JOIN runs r ON r.id = c.run_id
		WHERE c.conversation_id = $1 ORDER BY c.position`, id)
	if err != nil {
		return nil, fmt.Errorf("could not read the runs of conversation %s: %w", id, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (api.ConversationRun, error) {
		var c api.ConversationRun
		err := r.Scan(&c.Position, &c.RunID, &c.Text, &c.CreatedAt, &c.Status, &c.Result)
		return c, err
	})
}

// RunSession returns the provider session a run's agent reported last, or "".
func (s *Store) RunSession(ctx context.Context, runID string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var id *string
	err := s.db.QueryRow(ctx, `SELECT data->>'sessionId' FROM run_events
		WHERE run_id = $1 AND type = 'run.semantic' AND data->>'kind' = 'session' ORDER BY seq DESC LIMIT 1`, runID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) || id == nil {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("could not read the session of run %s: %w", runID, err)
	}
	return *id, nil
}
