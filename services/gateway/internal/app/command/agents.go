package command

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Bus publishes runner commands and configuration events.
type Bus interface {
	Command(ctx context.Context, cmd commands.Command) error
	Event(ctx context.Context, ev events.Payload) error
}

// AgentLookup reads what the agent use cases decide on.
type AgentLookup interface {
	Run(ctx context.Context, id string) (api.Run, bool, error)
	RunSession(ctx context.Context, runID string) (string, error)
	Conversation(ctx context.Context, id string) (api.Conversation, bool, error)
	RunnerIDs(ctx context.Context) ([]string, error)
}

// Agents are the use cases that steer agents: interactive sessions
// (start, input, end, resume), pause and resume, capability refresh, and
// conversations (a configuration aggregate of the gateway's: it appends
// conversation.* events).
type Agents struct {
	bus    Bus
	lookup AgentLookup
	submit *Submit
	limits Limits
	// wait bounds how long a use case waits for the read model to show a
	// conversation just created.
	wait time.Duration
}

// NewAgents returns the use cases.
func NewAgents(bus Bus, lookup AgentLookup, submit *Submit, limits Limits, wait time.Duration) *Agents {
	return &Agents{bus: bus, lookup: lookup, submit: submit, limits: limits, wait: wait}
}

// by is who the single-token API records as the author of a change.
const by = "api"

func conflict(format string, args ...any) *apperr.Error {
	return &apperr.Error{Code: problems.Conflict, Detail: fmt.Sprintf(format, args...)}
}

// runningAttempt returns the runner and attempt of a run whose agent runs now.
func (a *Agents) runningAttempt(ctx context.Context, runID string) (api.Run, error) {
	run, ok, err := a.lookup.Run(ctx, runID)
	if err != nil {
		return run, apperr.Unavailable(err, "could not read run %s", runID)
	}
	if !ok {
		return run, apperr.NotFound("no run %q", runID)
	}
	if (run.Status != string(runs.StatusRunning) && run.Status != string(runs.StatusPaused) && run.Status != string(runs.StatusAwaitingInput)) ||
		run.RunnerID == nil {
		return run, conflict("run %s is %s: only a running run's agent can be reached", runID, run.Status)
	}
	return run, nil
}

func (a *Agents) send(ctx context.Context, cmd commands.Command) error {
	if err := a.bus.Command(ctx, cmd); err != nil {
		return apperr.Unavailable(err, "could not deliver the command: the message bus did not accept it; retry later")
	}
	return nil
}

// StartSession submits an interactive run: its agent keeps reading input.
func (a *Agents) StartSession(ctx context.Context, spec runs.Spec) (api.Submitted, error) {
	yes := true
	spec.Interactive = &yes
	return a.submit.Run(ctx, SubmitRequest{Spec: spec, RequestedBy: by})
}

// Input writes text to an interactive run's agent; end closes its input
// after it (ending the session).
func (a *Agents) Input(ctx context.Context, runID, text string, end bool) (string, error) {
	if !end && strings.TrimSpace(text) == "" {
		return "", apperr.Invalid("text", "text must not be blank")
	}
	if len(text) > a.limits.MaxPromptBytes {
		return "", apperr.Invalid("text", "text must be at most %d bytes, got %d", a.limits.MaxPromptBytes, len(text))
	}
	run, err := a.runningAttempt(ctx, runID)
	if err != nil {
		return "", err
	}
	if !interactive(run) {
		return "", conflict("run %s is not interactive: submit it with interactive true (or POST /v1/sessions)", runID)
	}
	id := envelope.NewID()
	return id, a.send(ctx, commands.RunnerInput{RunnerID: *run.RunnerID, RunID: runID, Attempt: run.Attempt, InputID: id, Text: text, Close: end})
}

func interactive(run api.Run) bool {
	var spec runs.Spec
	if err := jsonUnmarshal(run.Spec, &spec); err != nil {
		return false
	}
	return spec.Interactive != nil && *spec.Interactive
}

// ResumeSession starts a new interactive run that resumes the provider
// session of an earlier run (same agent and workspace).
func (a *Agents) ResumeSession(ctx context.Context, runID, prompt string) (api.Submitted, error) {
	run, ok, err := a.lookup.Run(ctx, runID)
	if err != nil {
		return api.Submitted{}, apperr.Unavailable(err, "could not read run %s", runID)
	}
	if !ok {
		return api.Submitted{}, apperr.NotFound("no run %q", runID)
	}
	session, err := a.lookup.RunSession(ctx, runID)
	if err != nil {
		return api.Submitted{}, apperr.Unavailable(err, "could not read the session of run %s", runID)
	}
	if session == "" {
		return api.Submitted{}, conflict("run %s reported no provider session to resume", runID)
	}
	var spec runs.Spec
	if err := jsonUnmarshal(run.Spec, &spec); err != nil {
		return api.Submitted{}, apperr.Unavailable(err, "could not read the request of run %s", runID)
	}
	if strings.TrimSpace(prompt) == "" {
		prompt = "Continue."
	}
	h := runs.Harness{}
	if spec.Harness != nil {
		h = *spec.Harness
	}
	h.ResumeSessionID, h.Continue = session, false
	next := runs.Spec{Agent: spec.Agent, Prompt: prompt, Workspace: spec.Workspace, Pool: spec.Pool, Provider: spec.Provider,
		Model: spec.Model, Profile: spec.Profile, Isolation: spec.Isolation, Budget: spec.Budget, Harness: &h}
	return a.StartSession(ctx, next)
}

// Pause stops a running run's agent where it is; Resume lets it go on.
func (a *Agents) Pause(ctx context.Context, runID string) error {
	run, err := a.runningAttempt(ctx, runID)
	if err != nil {
		return err
	}
	return a.send(ctx, commands.RunnerPause{RunnerID: *run.RunnerID, RunID: runID, Attempt: run.Attempt, By: by})
}

// Resume continues a paused run.
func (a *Agents) Resume(ctx context.Context, runID string) error {
	run, err := a.runningAttempt(ctx, runID)
	if err != nil {
		return err
	}
	return a.send(ctx, commands.RunnerResume{RunnerID: *run.RunnerID, RunID: runID, Attempt: run.Attempt, By: by})
}

// RefreshCapabilities asks every known runner to detect its CLIs again.
func (a *Agents) RefreshCapabilities(ctx context.Context) ([]string, error) {
	ids, err := a.lookup.RunnerIDs(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the runners")
	}
	for _, id := range ids {
		if err := a.send(ctx, commands.RunnerDetect{RunnerID: id, By: by}); err != nil {
			return nil, err
		}
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// CreateConversation records a new conversation.
func (a *Agents) CreateConversation(ctx context.Context, n api.NewConversation) (api.Conversation, error) {
	if err := subjects.CheckToken("agent", n.Agent); err != nil {
		return api.Conversation{}, apperr.Invalid("agent", "%v", err)
	}
	if n.Provider == "" {
		n.Provider = n.Agent
	}
	if err := subjects.CheckToken("provider", n.Provider); err != nil {
		return api.Conversation{}, apperr.Invalid("provider", "%v", err)
	}
	if n.Profile != "" {
		if err := subjects.CheckToken("profile", n.Profile); err != nil {
			return api.Conversation{}, apperr.Invalid("profile", "%v", err)
		}
	}
	if err := validateWorkspace(n.Workspace, a.limits); err != nil {
		return api.Conversation{}, err
	}
	n.Title = strings.TrimSpace(n.Title)
	if n.Title == "" {
		n.Title = "New conversation"
	}
	if len(n.Title) > 200 {
		return api.Conversation{}, apperr.Invalid("title", "title must be at most 200 bytes, got %d", len(n.Title))
	}
	id := envelope.NewID()
	ev := events.ConversationCreated{ConversationID: id, Title: n.Title, Agent: n.Agent, Provider: n.Provider, Workspace: n.Workspace,
		Model: n.Model, Profile: n.Profile}
	if err := a.bus.Event(ctx, ev); err != nil {
		return api.Conversation{}, apperr.Unavailable(err, "could not record the conversation; retry later")
	}
	now := time.Now().UTC()
	c := api.Conversation{ID: id, Title: n.Title, Agent: n.Agent, Provider: n.Provider, Workspace: n.Workspace, CreatedAt: now, UpdatedAt: now}
	if n.Model != "" {
		c.Model = &n.Model
	}
	if n.Profile != "" {
		c.Profile = &n.Profile
	}
	return c, nil
}

// validateWorkspace checks a conversation's workspace as a run's would be
// (every run of the conversation works there).
func validateWorkspace(ws string, l Limits) error {
	if ws == "" {
		return apperr.Invalid("workspace", "workspace is required: the absolute path of the directory the agent works in")
	}
	return ValidatePartial(runs.Spec{Workspace: ws}, l)
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// conversation reads a conversation, waiting a little for one just created.
func (a *Agents) conversation(ctx context.Context, id string) (api.Conversation, error) {
	deadline := time.Now().Add(a.wait)
	for {
		c, ok, err := a.lookup.Conversation(ctx, id)
		if err != nil {
			return c, apperr.Unavailable(err, "could not read conversation %s", id)
		}
		if ok {
			return c, nil
		}
		if time.Now().After(deadline) {
			return c, apperr.NotFound("no conversation %q", id)
		}
		select {
		case <-ctx.Done():
			return c, apperr.NotFound("no conversation %q", id)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// SendMessage starts a run of the conversation's agent on its workspace
// that resumes the thread's provider session (a first message starts one).
// A conversation keeps its agent (another is a conflict), refuses messages
// once archived, and takes one message at a time.
func (a *Agents) SendMessage(ctx context.Context, id, text, agent string) (api.MessageSent, error) {
	if strings.TrimSpace(text) == "" {
		return api.MessageSent{}, apperr.Invalid("text", "text must not be blank")
	}
	c, err := a.conversation(ctx, id)
	if err != nil {
		return api.MessageSent{}, err
	}
	if c.Archived {
		return api.MessageSent{}, conflict("conversation %s is archived: it takes no new messages", id)
	}
	if agent != "" && agent != c.Agent {
		return api.MessageSent{}, conflict("conversation %s is on agent %s: a conversation keeps one provider (start another for %s)", id, c.Agent, agent)
	}
	if c.LastRunID != nil {
		run, ok, err := a.lookup.Run(ctx, *c.LastRunID)
		if err != nil {
			return api.MessageSent{}, apperr.Unavailable(err, "could not read run %s", *c.LastRunID)
		}
		if !ok || !runs.Status(run.Status).Terminal() {
			return api.MessageSent{}, conflict("the last message of conversation %s (run %s) has not finished yet", id, *c.LastRunID)
		}
	}
	spec := runs.Spec{Agent: c.Agent, Prompt: text, Workspace: c.Workspace, Provider: c.Provider}
	if c.Model != nil {
		spec.Model = *c.Model
	}
	if c.Profile != nil {
		spec.Profile = *c.Profile
	}
	if c.ProviderSessionID != nil && *c.ProviderSessionID != "" {
		spec.Harness = &runs.Harness{ResumeSessionID: *c.ProviderSessionID}
	}
	// The thread works in the workspace itself, so the provider session
	// (kept per working directory by the CLIs) is found again.
	spec.Isolation = runs.IsolationNone
	sub, err := a.submit.Run(ctx, SubmitRequest{Spec: spec, RequestedBy: by, ConversationID: id})
	if err != nil {
		return api.MessageSent{}, err
	}
	if err := a.bus.Event(ctx, events.ConversationMessageSent{ConversationID: id, RunID: sub.RunID, Text: text}); err != nil {
		return api.MessageSent{}, apperr.Unavailable(err, "the run %s started but the message could not be recorded", sub.RunID)
	}
	return api.MessageSent{ConversationID: id, Submitted: sub}, nil
}

// RenameConversation gives a conversation a new title.
func (a *Agents) RenameConversation(ctx context.Context, id, title string) error {
	title = strings.TrimSpace(title)
	if title == "" || len(title) > 200 {
		return apperr.Invalid("title", "title must be 1..=200 bytes")
	}
	if _, err := a.conversation(ctx, id); err != nil {
		return err
	}
	if err := a.bus.Event(ctx, events.ConversationRenamed{ConversationID: id, Title: title}); err != nil {
		return apperr.Unavailable(err, "could not rename the conversation; retry later")
	}
	return nil
}

// ArchiveConversation closes a conversation to new messages.
func (a *Agents) ArchiveConversation(ctx context.Context, id string) error {
	c, err := a.conversation(ctx, id)
	if err != nil {
		return err
	}
	if c.Archived {
		return nil
	}
	if err := a.bus.Event(ctx, events.ConversationArchived{ConversationID: id}); err != nil {
		return apperr.Unavailable(err, "could not archive the conversation; retry later")
	}
	return nil
}
