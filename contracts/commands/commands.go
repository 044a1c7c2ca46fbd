// Package commands defines the intents one service addresses to another over
// the PHANTOM_COMMANDS work-queue stream, and the dispatch message the
// scheduler releases runs with over PHANTOM_DISPATCH. Each is carried in the
// same CloudEvents envelope as an event; its ce-type is Type().
package commands

import (
	"time"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// Command is the body of one command message.
type Command interface {
	// CommandType is the ce-type, e.g. "command.scheduler.submit_run".
	CommandType() string
	// Subject is where the command is published.
	Subject() string
}

// Services that receive commands.
const (
	ServiceScheduler = "scheduler"
	ServiceRunner    = "runner"
	ServiceWorktree  = "worktree"
)

// Scheduler verbs.
const (
	VerbSubmitRun = "submit_run"
	VerbCancelRun = "cancel_run"
)

// Runner verbs (addressed to one runner).
const (
	VerbCancel = "cancel"
	VerbInput  = "input"
	VerbPause  = "pause"
	VerbResume = "resume"
	// VerbDetect asks a runner to detect its agent CLIs again (runner.capabilities).
	VerbDetect = "detect"
)

// SubmitRun asks the scheduler to queue a new run. RunID is chosen by the
// submitter, so a retried submit is the same run.
type SubmitRun struct {
	RunID          string    `json:"runId"`
	Spec           runs.Spec `json:"spec"`
	RequestedBy    string    `json:"requestedBy,omitempty"`
	RerunOf        string    `json:"rerunOf,omitempty"`
	ConversationID string    `json:"conversationId,omitempty"`
}

// CancelRun asks the scheduler to cancel a run, queued or running.
type CancelRun struct {
	RunID  string `json:"runId"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by,omitempty"`
}

// RunnerCancel asks one runner to stop an attempt (interrupt, terminate, kill).
type RunnerCancel struct {
	RunnerID string `json:"runnerId"`
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	Reason   string `json:"reason,omitempty"`
	By       string `json:"by,omitempty"`
}

// RunnerInput writes to an interactive attempt's stdin.
type RunnerInput struct {
	RunnerID string `json:"runnerId"`
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	InputID  string `json:"inputId"`
	Text     string `json:"text"`
	// Close ends the session after this input (closes stdin).
	Close bool `json:"close,omitempty"`
}

// RunnerPause interrupts an attempt without ending it.
type RunnerPause struct {
	RunnerID string `json:"runnerId"`
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	By       string `json:"by,omitempty"`
}

// RunnerResume continues a paused attempt.
type RunnerResume struct {
	RunnerID string `json:"runnerId"`
	RunID    string `json:"runId"`
	Attempt  int    `json:"attempt"`
	By       string `json:"by,omitempty"`
}

// RunnerDetect asks one runner to detect its agent CLIs again and publish
// runner.capabilities (the API's "refresh capabilities").
type RunnerDetect struct {
	RunnerID string `json:"runnerId"`
	By       string `json:"by,omitempty"`
}

func (RunnerDetect) CommandType() string { return "command.runner." + VerbDetect }
func (c RunnerDetect) Subject() string   { return subjects.RunnerCommand(c.RunnerID, VerbDetect) }

func (SubmitRun) CommandType() string    { return "command.scheduler." + VerbSubmitRun }
func (CancelRun) CommandType() string    { return "command.scheduler." + VerbCancelRun }
func (RunnerCancel) CommandType() string { return "command.runner." + VerbCancel }
func (RunnerInput) CommandType() string  { return "command.runner." + VerbInput }
func (RunnerPause) CommandType() string  { return "command.runner." + VerbPause }
func (RunnerResume) CommandType() string { return "command.runner." + VerbResume }

func (SubmitRun) Subject() string { return subjects.Command(ServiceScheduler, VerbSubmitRun) }
func (CancelRun) Subject() string { return subjects.Command(ServiceScheduler, VerbCancelRun) }
func (c RunnerCancel) Subject() string {
	return subjects.RunnerCommand(c.RunnerID, VerbCancel)
}
func (c RunnerInput) Subject() string  { return subjects.RunnerCommand(c.RunnerID, VerbInput) }
func (c RunnerPause) Subject() string  { return subjects.RunnerCommand(c.RunnerID, VerbPause) }
func (c RunnerResume) Subject() string { return subjects.RunnerCommand(c.RunnerID, VerbResume) }

// All returns a zero value of every command, for documentation and tests.
func All() []Command {
	return []Command{SubmitRun{}, CancelRun{}, RunnerCancel{RunnerID: "*"}, RunnerInput{RunnerID: "*"}, RunnerPause{RunnerID: "*"}, RunnerResume{RunnerID: "*"}, RunnerDetect{RunnerID: "*"}}
}

// DispatchType is the ce-type of a dispatch message.
const DispatchType = "dispatch.run"

// Dispatch releases one attempt of a run to a runner pool. A runner of the
// pool pulls it when it has a free slot.
type Dispatch struct {
	RunID    string    `json:"runId"`
	Attempt  int       `json:"attempt"`
	Spec     runs.Spec `json:"spec"`
	Pool     string    `json:"pool"`
	Provider string    `json:"provider"`
	// Deadline is when the attempt times out, if it has a timeout.
	Deadline *time.Time `json:"deadline,omitempty"`
	// RetriesLeft is how many further attempts the run may have; the runner
	// marks a retryable failure Retryable only when it is above zero.
	RetriesLeft int `json:"retriesLeft,omitempty"`
	// ConversationID is the conversation the run belongs to (from run.requested), if any.
	ConversationID string `json:"conversationId,omitempty"`
}

// Subject is where the dispatch is published.
func (d Dispatch) Subject() string { return subjects.Dispatch(d.Pool) }

// CommandType is the dispatch message's ce-type.
func (Dispatch) CommandType() string { return DispatchType }
