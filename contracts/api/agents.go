package api

import (
	"encoding/json"
	"time"
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

// MessageList answers GET /v1/runs/{id}/messages.
type MessageList struct {
	Messages []Message `json:"messages"`
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

// ToolCallList answers GET /v1/runs/{id}/tool-calls.
type ToolCallList struct {
	ToolCalls []ToolCall `json:"toolCalls"`
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

// RunUsage answers GET /v1/runs/{id}/usage.
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

// CapabilityList answers GET /v1/capabilities.
type CapabilityList struct {
	Capabilities []Capability `json:"capabilities"`
}

// RefreshAccepted answers POST /v1/capabilities/refresh: the runners asked
// to detect again.
type RefreshAccepted struct {
	Runners []string `json:"runners"`
}

// ControlAccepted answers a request that steers a run's agent (pause,
// resume, end of a session): the runner was told.
type ControlAccepted struct {
	RunID string `json:"id"`
	// Status is StatusPauseRequested, StatusResumeRequested or StatusEnding.
	Status string `json:"status"`
}

// The statuses of ControlAccepted.
const (
	StatusPauseRequested  = "pause_requested"
	StatusResumeRequested = "resume_requested"
	StatusEnding          = "ending"
)

// SessionInput is the body of POST /v1/sessions/{id}/input.
type SessionInput struct {
	Text string `json:"text"`
	// End closes the agent's input after the text (ending the session).
	End bool `json:"end,omitempty"`
}

// InputAccepted answers POST /v1/sessions/{id}/input.
type InputAccepted struct {
	RunID   string `json:"id"`
	InputID string `json:"inputId"`
}

// ResumeSession is the optional body of POST /v1/sessions/{id}/resume.
type ResumeSession struct {
	// Prompt is the resumed session's first turn ("" for the default).
	Prompt string `json:"prompt,omitempty"`
}
