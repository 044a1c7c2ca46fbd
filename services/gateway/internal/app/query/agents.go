package query

import (
	"context"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// AgentReader reads the runner's read models.
type AgentReader interface {
	RunExists(ctx context.Context, id string) (bool, error)
	Messages(ctx context.Context, runID string) ([]api.Message, error)
	ToolCalls(ctx context.Context, runID string) ([]api.ToolCall, error)
	Usage(ctx context.Context, runID string) ([]api.Usage, error)
	Capabilities(ctx context.Context) ([]api.Capability, error)
	Conversations(ctx context.Context, includeArchived bool, limit int) ([]api.Conversation, error)
	Conversation(ctx context.Context, id string) (api.Conversation, bool, error)
	ConversationRuns(ctx context.Context, id string) ([]api.ConversationRun, error)
}

// Agents are the read use cases over what agents did.
type Agents struct{ store AgentReader }

// NewAgents returns the use cases.
func NewAgents(store AgentReader) *Agents { return &Agents{store: store} }

func (a *Agents) requireRun(ctx context.Context, id string) error {
	ok, err := a.store.RunExists(ctx, id)
	if err != nil {
		return apperr.Unavailable(err, "could not read the runs")
	}
	if !ok {
		return apperr.NotFound("no run %q", id)
	}
	return nil
}

// Messages lists a run's messages in order.
func (a *Agents) Messages(ctx context.Context, runID string) ([]api.Message, error) {
	if err := a.requireRun(ctx, runID); err != nil {
		return nil, err
	}
	out, err := a.store.Messages(ctx, runID)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the messages")
	}
	return nonNilSlice(out), nil
}

// ToolCalls lists a run's tool calls in order.
func (a *Agents) ToolCalls(ctx context.Context, runID string) ([]api.ToolCall, error) {
	if err := a.requireRun(ctx, runID); err != nil {
		return nil, err
	}
	out, err := a.store.ToolCalls(ctx, runID)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the tool calls")
	}
	return nonNilSlice(out), nil
}

// Usage returns a run's usage per attempt and model, with the total.
func (a *Agents) Usage(ctx context.Context, runID string) (api.RunUsage, error) {
	if err := a.requireRun(ctx, runID); err != nil {
		return api.RunUsage{}, err
	}
	rows, err := a.store.Usage(ctx, runID)
	if err != nil {
		return api.RunUsage{}, apperr.Unavailable(err, "could not read the usage")
	}
	u := api.RunUsage{RunID: runID, Usage: nonNilSlice(rows)}
	for _, r := range rows {
		u.Total.InputTokens += r.InputTokens
		u.Total.OutputTokens += r.OutputTokens
		if r.CostUSD != nil {
			u.Total.CostUSD += *r.CostUSD
		}
		u.Total.CostEstimated = u.Total.CostEstimated || r.CostEstimated
	}
	return u, nil
}

// Capabilities lists what every runner found, by runner then agent.
func (a *Agents) Capabilities(ctx context.Context) ([]api.Capability, error) {
	out, err := a.store.Capabilities(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the capabilities")
	}
	return nonNilSlice(out), nil
}

// Conversations lists conversations, most recently active first.
func (a *Agents) Conversations(ctx context.Context, includeArchived bool, limit int) ([]api.Conversation, error) {
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return nil, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %d", MaxLimit, limit)
	}
	out, err := a.store.Conversations(ctx, includeArchived, limit)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the conversations")
	}
	return nonNilSlice(out), nil
}

// Conversation returns a conversation with its messages and their runs.
func (a *Agents) Conversation(ctx context.Context, id string) (api.ConversationDetail, error) {
	c, ok, err := a.store.Conversation(ctx, id)
	if err != nil {
		return api.ConversationDetail{}, apperr.Unavailable(err, "could not read the conversation")
	}
	if !ok {
		return api.ConversationDetail{}, apperr.NotFound("no conversation %q", id)
	}
	runs, err := a.store.ConversationRuns(ctx, id)
	if err != nil {
		return api.ConversationDetail{}, apperr.Unavailable(err, "could not read the conversation")
	}
	return api.ConversationDetail{Conversation: c, Runs: nonNilSlice(runs)}, nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
