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
	"slices"
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

// Service names a Phantom service as an event's owner.
type Service string

// The services that append events.
const (
	ServiceGateway     Service = "gateway"
	ServiceScheduler   Service = "scheduler"
	ServiceRunner      Service = "runner"
	ServiceWorktree    Service = "worktree"
	ServiceSafetyGuard Service = "safety-guard"
)

// Spec describes one event type.
type Spec struct {
	Type      string
	Aggregate string
	// Owner is the service that appends events of this type and decides
	// what they mean. No other service's code builds one, except those in
	// AlsoAppendedBy (tools/boundaries checks both against the code).
	Owner Service
	// AlsoAppendedBy are services that append this type besides its owner.
	// Only the end of a run has one: the scheduler ends a run that no
	// runner can (canceled before dispatch, timed out, runner lost,
	// retries spent), the runner every attempt it ran.
	AlsoAppendedBy []Service
	// Doc is one sentence for people (AsyncAPI, docs).
	Doc string
	new func() Payload
}

// New returns a zero payload of this type, ready to unmarshal into.
func (s Spec) New() Payload { return s.new() }

// AppendedBy reports whether svc may append events of this type.
func (s Spec) AppendedBy(svc Service) bool {
	return s.Owner == svc || slices.Contains(s.AlsoAppendedBy, svc)
}

func spec[T any, P interface {
	*T
	Payload
}](aggregate string, owner Service, doc string, also ...Service) Spec {
	var zero T
	return Spec{
		Type:           P(&zero).EventType(),
		Aggregate:      aggregate,
		Owner:          owner,
		AlsoAppendedBy: also,
		Doc:            doc,
		new:            func() Payload { return P(new(T)) },
	}
}

// table lists every event type. It is read-only after init.
var table = map[string]Spec{}

func init() {
	for _, s := range []Spec{
		spec[RunRequested](AggregateRun, ServiceScheduler, "A run was submitted; carries the full request."),
		spec[RunQueued](AggregateRun, ServiceScheduler, "The scheduler queued the run (again, for a retry)."),
		spec[RunRejected](AggregateRun, ServiceScheduler, "The scheduler refused the run (queue full, invalid, policy)."),
		spec[RunDispatched](AggregateRun, ServiceScheduler, "The scheduler released one attempt of the run to a runner pool."),
		spec[RunStarted](AggregateRun, ServiceRunner, "A runner spawned the agent process for an attempt."),
		spec[RunProgress](AggregateRun, ServiceRunner, "A step of preparation or execution, for people watching."),
		spec[RunChunkStdout](AggregateRun, ServiceRunner, "A batch of the agent's standard output, redacted."),
		spec[RunChunkStderr](AggregateRun, ServiceRunner, "A batch of the agent's standard error, redacted."),
		spec[RunSemantic](AggregateRun, ServiceRunner, "A parsed agent event: message, tool use, tool result, thinking, usage, session, result, error."),
		spec[RunPolicyAudit](AggregateRun, ServiceSafetyGuard, "A safety-guard decision on a command the agent or Phantom wanted to run."),
		spec[RunCompatibilityWarning](AggregateRun, ServiceRunner, "An option the chosen CLI cannot honour was dropped."),
		spec[RunWarning](AggregateRun, ServiceRunner, "Something went wrong without ending the run (a truncated line, say)."),
		spec[RunCLIMissing](AggregateRun, ServiceRunner, "The agent's CLI is not installed on the runner."),
		spec[RunCWDMissing](AggregateRun, ServiceRunner, "The run's working directory does not exist on the runner."),
		spec[RunRunnerMetrics](AggregateRun, ServiceRunner, "Resource use of one attempt's process."),
		spec[RunCLIExit](AggregateRun, ServiceRunner, "The agent process exited."),
		spec[RunStructuredOutput](AggregateRun, ServiceRunner, "The final result validated against the requested JSON schema."),
		spec[RunStructuredOutputInvalid](AggregateRun, ServiceRunner, "The final result did not validate against the requested JSON schema."),
		spec[RunPaused](AggregateRun, ServiceRunner, "The agent was interrupted and waits to be resumed."),
		spec[RunResumed](AggregateRun, ServiceRunner, "A paused run continues."),
		spec[RunRetryScheduled](AggregateRun, ServiceScheduler, "A failed attempt will be retried after a backoff."),
		spec[RunCompleted](AggregateRun, ServiceRunner, "The run ended successfully."),
		spec[RunFailed](AggregateRun, ServiceRunner, "The run ended in failure, with a reason code.", ServiceScheduler),
		spec[RunCanceled](AggregateRun, ServiceRunner, "The run was canceled.", ServiceScheduler),
		spec[RunArchived](AggregateRun, ServiceWorktree, "The run was archived and is hidden from default listings."),
		spec[RunWorktreePrepared](AggregateRun, ServiceWorktree, "A git worktree was prepared for the run."),
		spec[RunCheckpointCreated](AggregateRun, ServiceWorktree, "A checkpoint of the run's worktree was recorded."),
		spec[RunCheckpointRestored](AggregateRun, ServiceWorktree, "The run's worktree was restored to a checkpoint."),
		spec[SessionOpened](AggregateRun, ServiceRunner, "An interactive session started: the agent keeps reading stdin."),
		spec[SessionInputAccepted](AggregateRun, ServiceRunner, "Input was written to an interactive agent's stdin."),
		spec[SessionClosed](AggregateRun, ServiceRunner, "An interactive session ended."),
		spec[ConversationCreated](AggregateConversation, ServiceGateway, "A conversation (a thread of runs on one provider session) was created."),
		spec[ConversationUpdated](AggregateConversation, ServiceGateway, "A conversation's settings changed."),
		spec[ConversationRenamed](AggregateConversation, ServiceGateway, "A conversation was renamed."),
		spec[ConversationArchived](AggregateConversation, ServiceGateway, "A conversation was archived; it refuses new messages."),
		spec[ConversationMessageSent](AggregateConversation, ServiceGateway, "A message was sent in a conversation and started a run."),
		spec[ProfileSaved](AggregateProfile, ServiceGateway, "A profile (defaults for runs) was saved."),
		spec[SettingsUpdated](AggregateSettings, ServiceGateway, "Global settings changed."),
		spec[WorkspaceGranted](AggregateWorkspace, ServiceGateway, "Runs may start in this workspace."),
		spec[WorkspaceRevoked](AggregateWorkspace, ServiceGateway, "Runs may no longer start in this workspace."),
		spec[ProviderTokenSaved](AggregateProviderToken, ServiceGateway, "A provider token was saved (encrypted; never the token itself)."),
		spec[ProviderTokenCleared](AggregateProviderToken, ServiceGateway, "A provider token was removed."),
		spec[RetentionPolicyUpdated](AggregateRetentionPolicy, ServiceGateway, "How long runs and their events are kept changed."),
		spec[GuardPolicySaved](AggregateGuardPolicy, ServiceGateway, "The safety-guard policy of a scope (global, a workspace, a profile) was set."),
		spec[GuardPolicyDeleted](AggregateGuardPolicy, ServiceGateway, "The safety-guard policy of a scope was removed."),
		spec[RunnerRegistered](AggregateRunner, ServiceRunner, "A runner joined the fleet."),
		spec[RunnerCapabilities](AggregateRunner, ServiceRunner, "The agent CLIs a runner found, with versions and support levels."),
		spec[RunnerLost](AggregateRunner, ServiceScheduler, "A runner missed its heartbeats and is considered gone."),
		spec[RunnerDrained](AggregateRunner, ServiceRunner, "A runner stopped taking runs and handed its runs back."),
		spec[ProviderHeld](AggregateProvider, ServiceScheduler, "The scheduler holds a provider whose quota ran out: its runs wait until the reset."),
		spec[ProviderReleased](AggregateProvider, ServiceScheduler, "A provider's hold ended: its runs are dispatched again."),
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
