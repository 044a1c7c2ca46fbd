package policies

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// RunInfo is what chooses a run's policy.
type RunInfo struct {
	// Found is false when the event log has no run.requested for the run.
	Found     bool
	Workspace string
	Profile   string
}

// Runs looks up runs' workspace and profile in their run.requested event
// and remembers them: a run asks about many commands, and its request
// never changes. It is safe for concurrent use.
type Runs struct {
	js      jetstream.JetStream
	timeout time.Duration

	mu     sync.Mutex
	stream jetstream.Stream
	cache  map[string]cached
	// order is the insertion order of cache, for eviction.
	order []string
}

type cached struct {
	info RunInfo
	// until bounds how long "not found" is believed: the request may be on
	// its way.
	until time.Time
}

// Cache bounds.
const (
	maxCachedRuns = 8192
	notFoundTTL   = 5 * time.Second
)

// NewRuns returns a lookup on js; timeout bounds each read of the log.
func NewRuns(js jetstream.JetStream, timeout time.Duration) *Runs {
	return &Runs{js: js, timeout: timeout, cache: map[string]cached{}}
}

// Lookup returns the workspace and profile run runID was submitted with.
func (r *Runs) Lookup(ctx context.Context, runID string) (RunInfo, error) {
	if !subjects.ValidToken(runID) {
		return RunInfo{}, fmt.Errorf("run id %q is not a subject token", runID)
	}
	now := time.Now()
	r.mu.Lock()
	c, ok := r.cache[runID]
	stream := r.stream
	r.mu.Unlock()
	if ok && (c.info.Found || now.Before(c.until)) {
		return c.info, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	if stream == nil {
		s, err := r.js.Stream(ctx, streams.Events)
		if err != nil {
			return RunInfo{}, fmt.Errorf("could not open %s: %w", streams.Events, err)
		}
		stream = s
	}
	info, err := readRequest(ctx, stream, runID)
	if err != nil {
		return RunInfo{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stream = stream
	if _, had := r.cache[runID]; !had {
		if len(r.order) >= maxCachedRuns {
			delete(r.cache, r.order[0])
			r.order = r.order[1:]
		}
		r.order = append(r.order, runID)
	}
	r.cache[runID] = cached{info: info, until: now.Add(notFoundTTL)}
	return info, nil
}

func readRequest(ctx context.Context, stream jetstream.Stream, runID string) (RunInfo, error) {
	subject := subjects.Event(events.AggregateRun, runID, events.RunRequested{}.EventType())
	msg, err := stream.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return RunInfo{}, nil
	}
	if err != nil {
		return RunInfo{}, fmt.Errorf("could not read the request of run %s: %w", runID, err)
	}
	p, err := events.Decode(events.RunRequested{}.EventType(), msg.Data)
	if err != nil {
		return RunInfo{}, fmt.Errorf("could not decode the request of run %s: %w", runID, err)
	}
	req := p.(*events.RunRequested)
	return RunInfo{Found: true, Workspace: req.Spec.Workspace, Profile: req.Spec.Profile}, nil
}
