package query

import (
	"context"
	"encoding/json"
	"time"

	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Message is a parsed message, thinking block or error of a run (messages).
type Message struct {
	Seq       int64     `json:"seq"`
	RunID     string    `json:"runId"`
	Attempt   int       `json:"attempt"`
	Kind      string    `json:"kind"`
	Role      string    `json:"role"`
	MessageID *string   `json:"messageId"`
	Agent     *string   `json:"agent"`
	Model     *string   `json:"model"`
	Text      string    `json:"text"`
	Subtype   *string   `json:"subtype"`
	Time      time.Time `json:"time"`
}

// ToolCall is one tool call of a run (tool_calls).
type ToolCall struct {
	RunID      string          `json:"runId"`
	Attempt    int             `json:"attempt"`
	ToolUseID  string          `json:"toolUseId"`
	Agent      *string         `json:"agent"`
	Name       *string         `json:"name"`
	Input      json.RawMessage `json:"input"`
	Status     string          `json:"status"`
	Result     *string         `json:"result"`
	IsError    bool            `json:"isError"`
	StartedAt  *time.Time      `json:"startedAt"`
	FinishedAt *time.Time      `json:"finishedAt"`
}

// Usage is the tokens and cost of a run's attempt on one model (usage).
type Usage struct {
	Attempt             int      `json:"attempt"`
	Model               string   `json:"model"`
	Agent               *string  `json:"agent"`
	InputTokens         int64    `json:"inputTokens"`
	OutputTokens        int64    `json:"outputTokens"`
	CacheReadTokens     int64    `json:"cacheReadTokens"`
	CacheCreationTokens int64    `json:"cacheCreationTokens"`
	ReasoningTokens     int64    `json:"reasoningTokens"`
	CostUSD             *float64 `json:"costUsd"`
	CostEstimated       bool     `json:"costEstimated"`
}

// UsageTotal sums a run's usage over attempts and models.
type UsageTotal struct {
	InputTokens  int64   `json:"inputTokens"`
	OutputTokens int64   `json:"outputTokens"`
	CostUSD      float64 `json:"costUsd"`
	// CostEstimated is true when any part of the cost came from the price table.
	CostEstimated bool `json:"costEstimated"`
}

// RunUsage is a run's usage.
type RunUsage struct {
	RunID string     `json:"runId"`
	Usage []Usage    `json:"usage"`
	Total UsageTotal `json:"total"`
}

// Capability is what one runner found of one agent CLI (capability_snapshots).
type Capability struct {
	RunnerID     string    `json:"runnerId"`
	Host         string    `json:"host"`
	Agent        string    `json:"agent"`
	Command      string    `json:"command"`
	Found        bool      `json:"found"`
	Version      *string   `json:"version"`
	Support      string    `json:"support"`
	Reason       *string   `json:"reason"`
	Provider     *string   `json:"provider"`
	DefaultModel *string   `json:"defaultModel"`
	PlanModel    *string   `json:"planModel"`
	Install      *string   `json:"install"`
	Models       []string  `json:"models"`
	Options      []string  `json:"options"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Conversation is a thread of runs on one provider session (conversations).
type Conversation struct {
	ID                string    `json:"id"`
	Title             string    `json:"title"`
	Agent             string    `json:"agent"`
	Provider          string    `json:"provider"`
	Workspace         string    `json:"workspace"`
	Model             *string   `json:"model"`
	Profile           *string   `json:"profile"`
	ProviderSessionID *string   `json:"providerSessionId"`
	Archived          bool      `json:"archived"`
	MessageCount      int       `json:"messageCount"`
	LastRunID         *string   `json:"lastRunId"`
	CreatedAt         time.Time `json:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

// ConversationRun is one message of a conversation and the run it started.
type ConversationRun struct {
	Position  int       `json:"position"`
	RunID     string    `json:"runId"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"createdAt"`
	// Status and Result come from the runs read model (null until it has the run).
	Status *string `json:"status"`
	Result *string `json:"result"`
}

// ConversationDetail is a conversation with its messages.
type ConversationDetail struct {
	Conversation
	Runs []ConversationRun `json:"runs"`
}

// AgentReader reads the runner's read models.
type AgentReader interface {
	RunExists(ctx context.Context, id string) (bool, error)
	Messages(ctx context.Context, runID string) ([]Message, error)
	ToolCalls(ctx context.Context, runID string) ([]ToolCall, error)
	Usage(ctx context.Context, runID string) ([]Usage, error)
	Capabilities(ctx context.Context) ([]Capability, error)
	Conversations(ctx context.Context, includeArchived bool, limit int) ([]Conversation, error)
	Conversation(ctx context.Context, id string) (Conversation, bool, error)
	ConversationRuns(ctx context.Context, id string) ([]ConversationRun, error)
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
func (a *Agents) Messages(ctx context.Context, runID string) ([]Message, error) {
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
func (a *Agents) ToolCalls(ctx context.Context, runID string) ([]ToolCall, error) {
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
func (a *Agents) Usage(ctx context.Context, runID string) (RunUsage, error) {
	if err := a.requireRun(ctx, runID); err != nil {
		return RunUsage{}, err
	}
	rows, err := a.store.Usage(ctx, runID)
	if err != nil {
		return RunUsage{}, apperr.Unavailable(err, "could not read the usage")
	}
	u := RunUsage{RunID: runID, Usage: nonNilSlice(rows)}
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
func (a *Agents) Capabilities(ctx context.Context) ([]Capability, error) {
	out, err := a.store.Capabilities(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the capabilities")
	}
	return nonNilSlice(out), nil
}

// Conversations lists conversations, most recently active first.
func (a *Agents) Conversations(ctx context.Context, includeArchived bool, limit int) ([]Conversation, error) {
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
func (a *Agents) Conversation(ctx context.Context, id string) (ConversationDetail, error) {
	c, ok, err := a.store.Conversation(ctx, id)
	if err != nil {
		return ConversationDetail{}, apperr.Unavailable(err, "could not read the conversation")
	}
	if !ok {
		return ConversationDetail{}, apperr.NotFound("no conversation %q", id)
	}
	runs, err := a.store.ConversationRuns(ctx, id)
	if err != nil {
		return ConversationDetail{}, apperr.Unavailable(err, "could not read the conversation")
	}
	return ConversationDetail{Conversation: c, Runs: nonNilSlice(runs)}, nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
