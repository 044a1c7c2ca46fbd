package api

import "time"

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

// ConversationDetail is a conversation with its messages
// (GET /v1/conversations/{id}).
type ConversationDetail struct {
	Conversation
	Runs []ConversationRun `json:"runs"`
}

// ConversationList answers GET /v1/conversations.
type ConversationList struct {
	Conversations []Conversation `json:"conversations"`
}

// NewConversation is the body of POST /v1/conversations.
type NewConversation struct {
	Title     string `json:"title,omitempty"`
	Agent     string `json:"agent"`
	Provider  string `json:"provider,omitempty"`
	Workspace string `json:"workspace"`
	Model     string `json:"model,omitempty"`
	Profile   string `json:"profile,omitempty"`
}

// SendMessage is the body of POST /v1/conversations/{id}/messages.
type SendMessage struct {
	Text string `json:"text"`
	// Agent, when set, must be the conversation's (a thread keeps one provider).
	Agent string `json:"agent,omitempty"`
}

// MessageSent answers POST /v1/conversations/{id}/messages: the run the
// message started.
type MessageSent struct {
	ConversationID string `json:"conversationId"`
	Submitted
}

// RenameConversation is the body of PATCH /v1/conversations/{id}.
type RenameConversation struct {
	Title string `json:"title"`
}

// ConversationRenamed answers PATCH /v1/conversations/{id}.
type ConversationRenamed struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// ConversationArchived answers POST /v1/conversations/{id}/archive.
type ConversationArchived struct {
	ID       string `json:"id"`
	Archived bool   `json:"archived"`
}
