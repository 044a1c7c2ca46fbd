// Package events defines every event type Phantom appends to its event log,
// the Go type of each payload, and the aggregate each belongs to.
//
// An event's subject is phantom.events.<aggregate>.<id>.<type>; its payload is
// the JSON of the Go type registered for its type, described by the JSON
// schema in contracts/schemas/<type>.json. Payloads only ever gain optional
// fields, so old consumers keep decoding new events.
package events

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/phantom-run/phantom/contracts/subjects"
)

// Payload is the data of one event.
type Payload interface {
	// EventType is the full dotted type, e.g. "run.completed".
	EventType() string
	// AggregateID is the id of the aggregate instance the event belongs to.
	AggregateID() string
}

// Aggregates.
const (
	AggregateRun             = "run"
	AggregateConversation    = "conversation"
	AggregateProfile         = "profile"
	AggregateSettings        = "settings"
	AggregateWorkspace       = "workspace"
	AggregateProviderToken   = "provider_token"
	AggregateRetentionPolicy = "retention_policy"
	AggregateRunner          = "runner"
	AggregateProvider        = "provider"
)

// Spec describes one event type.
type Spec struct {
	Type      string
	Aggregate string
	// Doc is one sentence for people (AsyncAPI, docs).
	Doc string
	new func() Payload
}

// New returns a zero payload of this type, ready to unmarshal into.
func (s Spec) New() Payload { return s.new() }

func spec[T any, P interface {
	*T
	Payload
}](aggregate, doc string) Spec {
	var zero T
	return Spec{
		Type:      P(&zero).EventType(),
		Aggregate: aggregate,
		Doc:       doc,
		new:       func() Payload { return P(new(T)) },
	}
}

// table lists every event type. It is read-only after init.
var table = map[string]Spec{}

func init() {
	for _, s := range []Spec{
		spec[RunRequested](AggregateRun, "A run was submitted; carries the full request."),
		spec[RunQueued](AggregateRun, "The scheduler queued the run (again, for a retry)."),
		spec[RunRejected](AggregateRun, "The scheduler refused the run (queue full, invalid, policy)."),
		spec[RunDispatched](AggregateRun, "The scheduler released one attempt of the run to a runner pool."),
		spec[RunStarted](AggregateRun, "A runner spawned the agent process for an attempt."),
		spec[RunProgress](AggregateRun, "A step of preparation or execution, for people watching."),
		spec[RunChunkStdout](AggregateRun, "A batch of the agent's standard output, redacted."),
		spec[RunChunkStderr](AggregateRun, "A batch of the agent's standard error, redacted."),
		spec[RunSemantic](AggregateRun, "A parsed agent event: message, tool use, tool result, thinking, usage, session, result, error."),
		spec[RunPolicyAudit](AggregateRun, "A safety-guard decision on a command the agent or Phantom wanted to run."),
		spec[RunCompatibilityWarning](AggregateRun, "An option the chosen CLI cannot honour was dropped."),
		spec[RunWarning](AggregateRun, "Something went wrong without ending the run (a truncated line, say)."),
		spec[RunCLIMissing](AggregateRun, "The agent's CLI is not installed on the runner."),
		spec[RunCWDMissing](AggregateRun, "The run's working directory does not exist on the runner."),
		spec[RunRunnerMetrics](AggregateRun, "Resource use of one attempt's process."),
		spec[RunCLIExit](AggregateRun, "The agent process exited."),
		spec[RunStructuredOutput](AggregateRun, "The final result validated against the requested JSON schema."),
		spec[RunStructuredOutputInvalid](AggregateRun, "The final result did not validate against the requested JSON schema."),
		spec[RunPaused](AggregateRun, "The agent was interrupted and waits to be resumed."),
		spec[RunResumed](AggregateRun, "A paused run continues."),
		spec[RunRetryScheduled](AggregateRun, "A failed attempt will be retried after a backoff."),
		spec[RunCompleted](AggregateRun, "The run ended successfully."),
		spec[RunFailed](AggregateRun, "The run ended in failure, with a reason code."),
		spec[RunCanceled](AggregateRun, "The run was canceled."),
		spec[RunArchived](AggregateRun, "The run was archived and is hidden from default listings."),
		spec[RunWorktreePrepared](AggregateRun, "A git worktree was prepared for the run."),
		spec[RunCheckpointCreated](AggregateRun, "A checkpoint of the run's worktree was recorded."),
		spec[RunCheckpointRestored](AggregateRun, "The run's worktree was restored to a checkpoint."),
		spec[SessionOpened](AggregateRun, "An interactive session started: the agent keeps reading stdin."),
		spec[SessionInputAccepted](AggregateRun, "Input was written to an interactive agent's stdin."),
		spec[SessionClosed](AggregateRun, "An interactive session ended."),
		spec[ConversationCreated](AggregateConversation, "A conversation (a thread of runs on one provider session) was created."),
		spec[ConversationUpdated](AggregateConversation, "A conversation's settings changed."),
		spec[ConversationRenamed](AggregateConversation, "A conversation was renamed."),
		spec[ConversationArchived](AggregateConversation, "A conversation was archived; it refuses new messages."),
		spec[ConversationSessionUpdated](AggregateConversation, "The provider session a conversation resumes changed."),
		spec[ConversationMessageSent](AggregateConversation, "A message was sent in a conversation and started a run."),
		spec[ProfileSaved](AggregateProfile, "A profile (defaults for runs) was saved."),
		spec[SettingsUpdated](AggregateSettings, "Global settings changed."),
		spec[WorkspaceGranted](AggregateWorkspace, "Runs may start in this workspace."),
		spec[WorkspaceRevoked](AggregateWorkspace, "Runs may no longer start in this workspace."),
		spec[ProviderTokenSaved](AggregateProviderToken, "A provider token was saved (encrypted; never the token itself)."),
		spec[ProviderTokenCleared](AggregateProviderToken, "A provider token was removed."),
		spec[RetentionPolicyUpdated](AggregateRetentionPolicy, "How long runs and their events are kept changed."),
		spec[GuardPolicySaved](AggregateGuardPolicy, "The safety-guard policy of a scope (global, a workspace, a profile) was set."),
		spec[GuardPolicyDeleted](AggregateGuardPolicy, "The safety-guard policy of a scope was removed."),
		spec[RunnerRegistered](AggregateRunner, "A runner joined the fleet."),
		spec[RunnerCapabilities](AggregateRunner, "The agent CLIs a runner found, with versions and support levels."),
		spec[RunnerLost](AggregateRunner, "A runner missed its heartbeats and is considered gone."),
		spec[RunnerDrained](AggregateRunner, "A runner stopped taking runs and handed its runs back."),
		spec[ProviderHeld](AggregateProvider, "The scheduler holds a provider whose quota ran out: its runs wait until the reset."),
		spec[ProviderReleased](AggregateProvider, "A provider's hold ended: its runs are dispatched again."),
	} {
		if _, dup := table[s.Type]; dup {
			panic("events: duplicate type " + s.Type)
		}
		table[s.Type] = s
	}
}

// Specs returns every event type, sorted by type.
func Specs() []Spec {
	out := make([]Spec, 0, len(table))
	for _, s := range table {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}

// Lookup returns the spec of an event type.
func Lookup(eventType string) (Spec, bool) {
	s, ok := table[eventType]
	return s, ok
}

// AggregateOf returns the aggregate an event type belongs to.
func AggregateOf(eventType string) (string, error) {
	s, ok := table[eventType]
	if !ok {
		return "", fmt.Errorf("unknown event type %q", eventType)
	}
	return s.Aggregate, nil
}

// Subject returns the subject a payload is published on.
func Subject(p Payload) (string, error) {
	agg, err := AggregateOf(p.EventType())
	if err != nil {
		return "", err
	}
	id := p.AggregateID()
	if err := subjects.CheckToken(agg+" id", id); err != nil {
		return "", err
	}
	return subjects.Event(agg, id, p.EventType()), nil
}

// Decode unmarshals data as the payload of eventType.
func Decode(eventType string, data []byte) (Payload, error) {
	s, ok := table[eventType]
	if !ok {
		return nil, fmt.Errorf("unknown event type %q", eventType)
	}
	p := s.New()
	if err := json.Unmarshal(data, p); err != nil {
		return nil, fmt.Errorf("could not decode %s: %w", eventType, err)
	}
	return p, nil
}
