package query

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// EventLog reads one run's events from the event log.
type EventLog interface {
	// Open returns a cursor over the run's events with a sequence above
	// after, in stream order, following new ones as they are appended.
	Open(ctx context.Context, runID string, after uint64) (EventCursor, error)
	// LastSeq is the sequence of the run's latest event, 0 when it has none.
	LastSeq(ctx context.Context, runID string) (uint64, error)
	// TerminalSeq is the sequence of the run's terminal event, 0 when the
	// run has not ended.
	TerminalSeq(ctx context.Context, runID string) (uint64, error)
}

// EventCursor delivers events one at a time.
type EventCursor interface {
	// Next blocks until the next event or until ctx ends (then it returns
	// ctx's error and the cursor stays usable).
	Next(ctx context.Context) (api.RunEvent, error)
	Close()
}

// RunExistence tells whether the read model knows a run.
type RunExistence interface {
	RunExists(ctx context.Context, id string) (bool, error)
}

// Events is the "stream a run's events" use case.
type Events struct {
	runs RunExistence
	log  EventLog
	// grace is how long a stream of a run nobody knows yet waits for its
	// first event before answering "not found": a client may ask for the
	// events of a run it just submitted before the scheduler appended any.
	grace time.Duration
}

// NewEvents returns the use case.
func NewEvents(runs RunExistence, log EventLog, grace time.Duration) *Events {
	return &Events{runs: runs, log: log, grace: grace}
}

// StreamRequest says which events a client wants.
type StreamRequest struct {
	RunID string
	// After is the last sequence the client has; 0 for all.
	After uint64
	// Follow keeps the stream open for new events until the run's terminal
	// event; without it the stream ends at the current end of the log.
	Follow bool
}

// Stream is one client's view of a run's events. Next returns io.EOF when
// the stream is over.
type Stream struct {
	cursor EventCursor
	// first is an event read while checking that the run exists.
	first *api.RunEvent
	// end, when not zero, is the last sequence to deliver.
	end    uint64
	follow bool
	done   bool
}

// Open checks the run exists and positions a stream after req.After.
func (q *Events) Open(ctx context.Context, req StreamRequest) (*Stream, error) {
	if err := CheckRunID(req.RunID); err != nil {
		return nil, err
	}
	projected, err := q.runs.RunExists(ctx, req.RunID)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read run %s; retry later", req.RunID)
	}
	last, err := q.log.LastSeq(ctx, req.RunID)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the event log; retry later")
	}
	known := projected || last > 0
	st := &Stream{follow: req.Follow}
	if req.Follow && known && req.After > 0 {
		// A client resuming after the terminal event must not wait forever
		// for another: it gets what followed (archiving) and the end.
		term, err := q.log.TerminalSeq(ctx, req.RunID)
		if err != nil {
			return nil, apperr.Unavailable(err, "could not read the event log; retry later")
		}
		if term != 0 && term <= req.After {
			st.follow = false
		}
	}
	if !st.follow {
		if !known {
			return nil, notFound(req.RunID)
		}
		st.end = last
		if last <= req.After {
			st.done = true
			return st, nil
		}
	}
	cursor, err := q.log.Open(ctx, req.RunID, req.After)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not open the event log; retry later")
	}
	st.cursor = cursor
	if !known {
		gctx, cancel := context.WithTimeout(ctx, q.grace)
		ev, err := cursor.Next(gctx)
		cancel()
		if err != nil {
			cursor.Close()
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, notFound(req.RunID)
		}
		st.first = &ev
	}
	return st, nil
}

func notFound(id string) error {
	return apperr.NotFound("run %s does not exist", id)
}

// Empty reports whether the stream is over before delivering anything: the
// client already has everything it asked for.
func (s *Stream) Empty() bool { return s.done && s.first == nil }

// Next returns the next event, io.EOF when the stream is over, or ctx's
// error when ctx ends first (the stream stays usable: callers use a short
// ctx to interleave heartbeats).
func (s *Stream) Next(ctx context.Context) (api.RunEvent, error) {
	if s.first != nil {
		ev := *s.first
		s.first = nil
		s.after(ev)
		return ev, nil
	}
	if s.done {
		return api.RunEvent{}, io.EOF
	}
	ev, err := s.cursor.Next(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			s.done = true
		}
		return api.RunEvent{}, err
	}
	s.after(ev)
	return ev, nil
}

// after records that ev is delivered and decides whether it is the last.
func (s *Stream) after(ev api.RunEvent) {
	if s.follow && ev.Terminal() {
		s.done = true
	}
	if !s.follow && ev.Seq >= s.end {
		s.done = true
	}
}

// Close releases the stream's consumer.
func (s *Stream) Close() {
	if s.cursor != nil {
		s.cursor.Close()
	}
}
