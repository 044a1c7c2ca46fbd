package api

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
)

// Run is one run (GET /v1/runs/{id}, and each run of a RunPage), as the
// runs read model has it. Absent values are null.
type Run struct {
	ID        string `json:"id"`
	Agent     string `json:"agent"`
	Provider  string `json:"provider"`
	Pool      string `json:"pool"`
	Prompt    string `json:"prompt"`
	Workspace string `json:"workspace"`
	// Spec is the request as the scheduler recorded it.
	Spec           json.RawMessage `json:"spec"`
	Status         string          `json:"status"`
	Priority       int             `json:"priority"`
	Attempt        int             `json:"attempt"`
	RunnerID       *string         `json:"runnerId"`
	Host           *string         `json:"host"`
	PID            *int            `json:"pid"`
	Cwd            *string         `json:"cwd"`
	ExitCode       *int            `json:"exitCode"`
	Reason         *string         `json:"reason"`
	Message        *string         `json:"message"`
	Result         *string         `json:"result"`
	RerunOf        *string         `json:"rerunOf"`
	ConversationID *string         `json:"conversationId"`
	RequestedBy    *string         `json:"requestedBy"`
	Archived       bool            `json:"archived"`
	CreatedAt      time.Time       `json:"createdAt"`
	QueuedAt       *time.Time      `json:"queuedAt"`
	DispatchedAt   *time.Time      `json:"dispatchedAt"`
	StartedAt      *time.Time      `json:"startedAt"`
	FinishedAt     *time.Time      `json:"finishedAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	// LastSeq is the stream sequence of the last event projected into this
	// row: an events stream resumed after it shows what happened since.
	LastSeq int64 `json:"lastSeq"`
	// Policy is what the safety guard decided about the run; only a
	// single run's detail has it.
	Policy *RunPolicy `json:"policy,omitempty"`
}

// RunPage is one page of GET /v1/runs, newest first.
type RunPage struct {
	Runs []Run `json:"runs"`
	// NextCursor fetches the next (older) page; null on the last page.
	NextCursor *string `json:"nextCursor"`
}

// Submitted answers a submit (POST /v1/runs, a rerun, a session start or
// resume).
type Submitted struct {
	RunID string `json:"id"`
	// Status is StatusQueued or StatusSubmitted.
	Status string `json:"status"`
	// Position is the 1-based queue position when queued.
	Position int `json:"position,omitempty"`
}

// The statuses of Submitted.
const (
	// StatusQueued: the scheduler confirmed within the wait.
	StatusQueued = "queued"
	// StatusSubmitted: the scheduler did not answer in time; the command is
	// durable, so it will still handle it.
	StatusSubmitted = "submitted"
)

// CancelRequest is the optional body of POST /v1/runs/{id}/cancel.
type CancelRequest struct {
	Reason string `json:"reason,omitempty"`
}

// Canceled answers POST /v1/runs/{id}/cancel.
type Canceled struct {
	RunID string `json:"id"`
	// Status is StatusCanceled or StatusCanceling.
	Status string `json:"status"`
}

// The statuses of Canceled.
const (
	// StatusCanceled: the run ended canceled within the wait.
	StatusCanceled = "canceled"
	// StatusCanceling: the cancel is under way (a running agent is being
	// stopped, or the scheduler did not answer in time).
	StatusCanceling = "canceling"
)

// RunPolicy is what the safety guard decided about one run, in its detail.
type RunPolicy struct {
	// Checks counts the decisions about the run, Denials the blocks among them.
	Checks  int `json:"checks"`
	Denials int `json:"denials"`
	// LastDenial is the most recent block, null when there is none.
	LastDenial *PolicyAudit `json:"lastDenial"`
}

// RunEventName is the SSE event name of every message of a run's stream.
const RunEventName = "run_event"

// RunEvent is one event of a run's stream (GET /v1/runs/{id}/events): the
// data of an SSE message named RunEventName, whose id is Seq.
type RunEvent struct {
	// Seq is the event's sequence in PHANTOM_EVENTS: the SSE id clients
	// resume after.
	Seq     uint64    `json:"seq"`
	ID      string    `json:"id"`
	Type    string    `json:"type"`
	Source  string    `json:"source"`
	Time    time.Time `json:"time"`
	RunID   string    `json:"runId"`
	Attempt int       `json:"attempt,omitempty"`
	// Data is the event's payload, as contracts/events types it.
	Data json.RawMessage `json:"data"`
}

// Payload decodes the event's data into its Go type: nil, nil for a type
// this build does not know (a newer server may send more types).
func (e RunEvent) Payload() (events.Payload, error) {
	spec, ok := events.Lookup(e.Type)
	if !ok {
		return nil, nil
	}
	p := spec.New()
	if len(e.Data) > 0 {
		if err := json.Unmarshal(e.Data, p); err != nil {
			return nil, fmt.Errorf("could not decode %s event %s: %w", e.Type, e.ID, err)
		}
	}
	return p, nil
}

// Terminal reports whether the event ends its run (events.Terminal). Only
// the types that can end a run are decoded.
func (e RunEvent) Terminal() bool {
	if !slices.Contains(events.RunEndTypes(), e.Type) {
		return false
	}
	p, err := e.Payload()
	return err == nil && p != nil && events.Terminal(p)
}
