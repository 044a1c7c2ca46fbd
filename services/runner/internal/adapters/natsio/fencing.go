package natsio

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// Fencing reads the event log for an attempt's fencing.
type Fencing struct {
	js jetstream.JetStream
	// self is this runner's ce-source: its own events do not fence it.
	self string
}

// NewFencing returns a Fencing for the runner whose events carry source self.
func NewFencing(js jetstream.JetStream, self string) *Fencing { return &Fencing{js: js, self: self} }

// Fenced reports whether the log shows the attempt taken from this runner:
// a later attempt of the run dispatched, or a run.failed / run.canceled of
// this attempt or a later one that this runner did not record (the
// scheduler's runner_lost or timeout, its cancel or give-up of the run).
func (f *Fencing) Fenced(ctx context.Context, runID string, attempt int) (bool, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := f.js.Stream(ctx, streams.Events)
	if err != nil {
		return false, "", fmt.Errorf("could not open %s: %w", streams.Events, err)
	}
	for _, t := range []string{"run.dispatched", "run.failed", "run.canceled"} {
		m, err := s.GetLastMsgForSubject(ctx, subjects.Event(events.AggregateRun, runID, t))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, "", fmt.Errorf("could not read the last %s of run %s: %w", t, runID, err)
		}
		n, err := strconv.Atoi(m.Header.Get(envelope.HeaderAttempt))
		if err != nil {
			continue
		}
		source := m.Header.Get(envelope.HeaderSource)
		switch {
		case t == "run.dispatched" && n > attempt:
			return true, fmt.Sprintf("attempt %d of the run was dispatched", n), nil
		case t != "run.dispatched" && n >= attempt && source != f.self:
			return true, fmt.Sprintf("%s of attempt %d recorded by %s", t, n, source), nil
		}
	}
	return false, "", nil
}
