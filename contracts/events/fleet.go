package events

import (
	"encoding/json"
	"time"
)

// ConversationCreated starts a thread of runs on one provider session.
type ConversationCreated struct {
	ConversationID string `json:"conversationId"`
	Title          string `json:"title"`
	Agent          string `json:"agent"`
	Provider       string `json:"provider"`
	Workspace      string `json:"workspace"`
	Model          string `json:"model,omitempty"`
	Profile        string `json:"profile,omitempty"`
}

// ConversationUpdated changes a conversation's settings.
type ConversationUpdated struct {
	ConversationID string `json:"conversationId"`
	Model          string `json:"model,omitempty"`
	Profile        string `json:"profile,omitempty"`
}

// ConversationRenamed gives a conversation a new title.
type ConversationRenamed struct {
	ConversationID string `json:"conversationId"`
	Title          string `json:"title"`
}

// ConversationArchived closes a conversation to new messages.
type ConversationArchived struct {
	ConversationID string `json:"conversationId"`
}

// ConversationMessageSent records a message and the run it started.
type ConversationMessageSent struct {
	ConversationID string `json:"conversationId"`
	RunID          string `json:"runId"`
	Text           string `json:"text"`
}

// ProfileSaved stores defaults that fill what a run request leaves out.
type ProfileSaved struct {
	Name string `json:"name"`
	// Defaults has the shape of a run request; only present fields apply.
	Defaults json.RawMessage `json:"defaults"`
	// MaxConcurrent bounds the runs of this profile dispatched or running at
	// once; absent means no limit of its own.
	MaxConcurrent *int `json:"maxConcurrent,omitempty"`
}

// SettingsUpdated changes global settings (Key "global" is the only instance today).
type SettingsUpdated struct {
	Key      string          `json:"key"`
	Settings json.RawMessage `json:"settings"`
}

// WorkspaceGranted allows runs in a workspace (and below it).
type WorkspaceGranted struct {
	WorkspaceID string `json:"workspaceId"`
	Path        string `json:"path"`
}

// WorkspaceRevoked withdraws a grant.
type WorkspaceRevoked struct {
	WorkspaceID string `json:"workspaceId"`
	Path        string `json:"path"`
}

// ProviderTokenSaved records that a token exists; the token itself travels encrypted.
type ProviderTokenSaved struct {
	Provider string `json:"provider"`
	// Ciphertext is the token sealed with the deployment's key (base64).
	Ciphertext string `json:"ciphertext"`
	// Hint is the last four characters, for people.
	Hint string `json:"hint,omitempty"`
}

// ProviderTokenCleared removes a provider token.
type ProviderTokenCleared struct {
	Provider string `json:"provider"`
}

// RetentionPolicyUpdated sets how long finished runs are kept.
type RetentionPolicyUpdated struct {
	PolicyID      string `json:"policyId"`
	KeepDays      int    `json:"keepDays"`
	KeepEventDays int    `json:"keepEventDays,omitempty"`
}

// RunnerRegistered: a runner joined.
type RunnerRegistered struct {
	RunnerID string    `json:"runnerId"`
	Host     string    `json:"host"`
	Pool     string    `json:"pool"`
	Slots    int       `json:"slots"`
	Version  string    `json:"version"`
	Started  time.Time `json:"started"`
}

// AgentCapability is what a runner found of one agent CLI.
type AgentCapability struct {
	Agent   string `json:"agent"`
	Command string `json:"command"`
	Found   bool   `json:"found"`
	Version string `json:"version,omitempty"`
	// Support is supported, degraded, blocked or missing.
	Support string   `json:"support"`
	Reason  string   `json:"reason,omitempty"`
	Models  []string `json:"models,omitempty"`
	// DefaultModel and PlanModel are the agent's models when a run names none
	// (PlanModel for planning runs), from agents.toml.
	DefaultModel string `json:"defaultModel,omitempty"`
	PlanModel    string `json:"planModel,omitempty"`
	// Provider is the agent's provider (its concurrency key).
	Provider string `json:"provider,omitempty"`
	// Options are the harness options this CLI and version honour; the
	// others are dropped with run.compatibility_warning.
	Options []string `json:"options,omitempty"`
	// Install says how to install the CLI when it is missing.
	Install string `json:"install,omitempty"`
}

// RunnerCapabilities: the agents a runner can run.
type RunnerCapabilities struct {
	RunnerID string            `json:"runnerId"`
	Host     string            `json:"host"`
	Agents   []AgentCapability `json:"agents"`
}

// RunnerLost: the runner missed its heartbeats.
type RunnerLost struct {
	RunnerID string    `json:"runnerId"`
	LastSeen time.Time `json:"lastSeen"`
	// Runs were running on it; the scheduler retries or fails each.
	Runs []string `json:"runs,omitempty"`
}

// ProviderHeld: the scheduler holds a provider (its quota ran out): its
// queued runs wait until Until instead of being dispatched, and the attempt
// that hit the limit is re-queued.
type ProviderHeld struct {
	Provider string    `json:"provider"`
	Until    time.Time `json:"until"`
	// Reason is usage_limit or rate_limited.
	Reason string `json:"reason"`
	// RunID and Attempt are the attempt that hit the limit.
	RunID   string `json:"runId,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	Message string `json:"message,omitempty"`
	// ResetKnown is true when Until is the reset time the provider gave,
	// false when it is the scheduler's default hold.
	ResetKnown bool `json:"resetKnown,omitempty"`
}

// ProviderReleased: a provider's hold ended; its runs are dispatched again.
type ProviderReleased struct {
	Provider string `json:"provider"`
	// Until is the end of the hold released.
	Until time.Time `json:"until"`
	// Reason is expired (the reset time passed) or manual.
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
}

// RunnerDrained: the runner stopped taking runs and handed back Runs.
type RunnerDrained struct {
	RunnerID string   `json:"runnerId"`
	Runs     []string `json:"runs,omitempty"`
}

func (ConversationCreated) EventType() string     { return "conversation.created" }
func (ConversationUpdated) EventType() string     { return "conversation.updated" }
func (ConversationRenamed) EventType() string     { return "conversation.renamed" }
func (ConversationArchived) EventType() string    { return "conversation.archived" }
func (ConversationMessageSent) EventType() string { return "conversation.message_sent" }
func (ProfileSaved) EventType() string            { return "profile.saved" }
func (SettingsUpdated) EventType() string         { return "settings.updated" }
func (WorkspaceGranted) EventType() string        { return "workspace.granted" }
func (WorkspaceRevoked) EventType() string        { return "workspace.revoked" }
func (ProviderTokenSaved) EventType() string      { return "provider_token.saved" }
func (ProviderTokenCleared) EventType() string    { return "provider_token.cleared" }
func (RetentionPolicyUpdated) EventType() string  { return "retention_policy.updated" }
func (RunnerRegistered) EventType() string        { return "runner.registered" }
func (RunnerCapabilities) EventType() string      { return "runner.capabilities" }
func (RunnerLost) EventType() string              { return "runner.lost" }
func (RunnerDrained) EventType() string           { return "runner.drained" }
func (ProviderHeld) EventType() string            { return "provider.held" }
func (ProviderReleased) EventType() string        { return "provider.released" }

func (e ConversationCreated) AggregateID() string     { return e.ConversationID }
func (e ConversationUpdated) AggregateID() string     { return e.ConversationID }
func (e ConversationRenamed) AggregateID() string     { return e.ConversationID }
func (e ConversationArchived) AggregateID() string    { return e.ConversationID }
func (e ConversationMessageSent) AggregateID() string { return e.ConversationID }
func (e ProfileSaved) AggregateID() string            { return e.Name }
func (e SettingsUpdated) AggregateID() string         { return e.Key }
func (e WorkspaceGranted) AggregateID() string        { return e.WorkspaceID }
func (e WorkspaceRevoked) AggregateID() string        { return e.WorkspaceID }
func (e ProviderTokenSaved) AggregateID() string      { return e.Provider }
func (e ProviderTokenCleared) AggregateID() string    { return e.Provider }
func (e RetentionPolicyUpdated) AggregateID() string  { return e.PolicyID }
func (e RunnerRegistered) AggregateID() string        { return e.RunnerID }
func (e RunnerCapabilities) AggregateID() string      { return e.RunnerID }
func (e RunnerLost) AggregateID() string              { return e.RunnerID }
func (e RunnerDrained) AggregateID() string           { return e.RunnerID }
func (e ProviderHeld) AggregateID() string            { return e.Provider }
func (e ProviderReleased) AggregateID() string        { return e.Provider }
