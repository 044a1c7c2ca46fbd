// Package command holds the gateway's use cases that change state. A use
// case validates a request, then either turns it into a command for the
// service that owns the state (a run: the scheduler; an agent: its runner)
// and reports what that service answered, if it answered in time, or
// appends an event of a configuration aggregate the gateway owns itself
// (profiles, guard policies, conversations). The gateway keeps none of it
// in memory: the event log and the read models hold it.
package command

import (
	"context"
	"fmt"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Answer is what the scheduler said about a submitted run within the wait.
type Answer int

// Answers.
const (
	// AnswerNone: nothing within the wait. The command is durable, so the
	// run will still be handled when the scheduler gets to it.
	AnswerNone Answer = iota
	// AnswerQueued: run.queued.
	AnswerQueued
	// AnswerRejected: run.rejected.
	AnswerRejected
)

// Outcome is the scheduler's answer to a submit.
type Outcome struct {
	Answer Answer
	// Position is the 1-based queue position of a queued run.
	Position int
	// Reason, Message and Field are those of a rejection.
	Reason, Message, Field string
}

// RunSubmitter delivers SubmitRun commands.
type RunSubmitter interface {
	// SendSubmit starts listening for the scheduler's answer about cmd's run,
	// then delivers cmd (listening first, or a fast answer is missed). The
	// caller closes the waiter.
	SendSubmit(ctx context.Context, cmd commands.SubmitRun) (AnswerWaiter, error)
}

// AnswerWaiter waits for the scheduler's answer about one run.
type AnswerWaiter interface {
	// Wait returns the first answer within d, or AnswerNone when there is
	// none by then or ctx ends first.
	Wait(ctx context.Context, d time.Duration) Outcome
	// Close stops listening.
	Close()
}

// Submit is the "submit a run" use case.
type Submit struct {
	bus    RunSubmitter
	limits Limits
	wait   time.Duration
	// publishTimeout bounds delivering the command.
	publishTimeout time.Duration
	// profiles fill what a request leaves out (nil: profiles are not used).
	profiles ProfileSource
}

// WithProfiles makes submits fill what a request leaves out from the
// profile it names.
func (s *Submit) WithProfiles(p ProfileSource) *Submit {
	s.profiles = p
	return s
}

// NewSubmit returns the use case. wait is how long it waits for the
// scheduler's answer before answering "submitted".
func NewSubmit(bus RunSubmitter, limits Limits, wait time.Duration) *Submit {
	return &Submit{bus: bus, limits: limits, wait: wait, publishTimeout: 15 * time.Second}
}

// SubmitRequest is a validated-to-be spec with who asks and why.
type SubmitRequest struct {
	Spec        runs.Spec
	RequestedBy string
	RerunOf     string
	// ConversationID links the run to the conversation a message started it in.
	ConversationID string
}

// Run fills what the spec leaves out from its profile, validates the
// result, publishes the command and waits for the answer. Invalid input
// publishes nothing. The command (and so run.requested) carries the spec
// as it will run.
func (s *Submit) Run(ctx context.Context, req SubmitRequest) (api.Submitted, error) {
	spec, err := applyProfile(ctx, s.profiles, req.Spec)
	if err != nil {
		return api.Submitted{}, err
	}
	if err := Validate(spec, s.limits); err != nil {
		return api.Submitted{}, err
	}
	runID := envelope.NewID()
	cmd := commands.SubmitRun{RunID: runID, Spec: spec, RequestedBy: req.RequestedBy, RerunOf: req.RerunOf, ConversationID: req.ConversationID}
	// Once the gateway starts publishing it finishes, whatever the client
	// does, so that the run exists exactly when the gateway said (or would
	// have said) so. The trace context of ctx stays; its cancellation does not.
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.publishTimeout)
	waiter, err := s.bus.SendSubmit(pctx, cmd)
	cancel()
	if err != nil {
		return api.Submitted{}, apperr.Unavailable(err, "could not submit the run: the message bus did not accept it; retry later")
	}
	defer waiter.Close()
	// The wait, unlike the publish, ends when the client leaves.
	out := waiter.Wait(ctx, s.wait)
	switch out.Answer {
	case AnswerQueued:
		return api.Submitted{RunID: runID, Status: api.StatusQueued, Position: out.Position}, nil
	case AnswerRejected:
		return api.Submitted{}, rejection(runID, out)
	default:
		return api.Submitted{RunID: runID, Status: api.StatusSubmitted}, nil
	}
}

func rejection(runID string, out Outcome) *apperr.Error {
	code := problems.InvalidRequest
	switch out.Reason {
	case runs.ReasonQueueFull:
		code = problems.QueueFull
	case runs.ReasonPolicyDenied:
		code = problems.PolicyDenied
	case runs.ReasonWorkspaceNotGranted:
		code = problems.WorkspaceNotGranted
	}
	detail := out.Message
	if detail == "" {
		detail = "the scheduler rejected the run"
	}
	return &apperr.Error{
		Code:     code,
		Field:    out.Field,
		Detail:   fmt.Sprintf("%s (reason %s)", detail, out.Reason),
		Instance: "/v1/runs/" + runID,
	}
}
