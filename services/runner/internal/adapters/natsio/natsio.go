// Package natsio is the runner's outside world on NATS besides event
// appends: the worktree service of its host (request/reply), the event log
// looked up for an attempt's trace, and the runner's own entry in the
// phantom_runners bucket.
package natsio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/tracing"
)

// Worktrees asks the worktree service of one host.
type Worktrees struct {
	nc   *nats.Conn
	host string
}

// NewWorktrees returns a client of host's worktree service.
func NewWorktrees(nc *nats.Conn, host string) *Worktrees { return &Worktrees{nc: nc, host: host} }

// Prepare requests a working directory; ctx bounds the wait.
func (w *Worktrees) Prepare(ctx context.Context, req rpc.WorktreePrepareRequest) (rpc.WorktreePrepareReply, error) {
	var reply rpc.WorktreePrepareReply
	data, err := json.Marshal(req)
	if err != nil {
		return reply, fmt.Errorf("could not encode the worktree request: %w", err)
	}
	msg := nats.NewMsg(rpc.WorktreePrepareSubject(w.host))
	msg.Data = data
	if tp, ts := tracing.TraceParent(ctx); tp != "" {
		msg.Header.Set(envelope.HeaderTraceParent, tp)
		if ts != "" {
			msg.Header.Set(envelope.HeaderTraceState, ts)
		}
	}
	resp, err := w.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return reply, fmt.Errorf("no worktree service answers for host %s (is phantom-worktree running there with PHANTOM_HOST=%s?)", w.host, w.host)
	case err != nil:
		return reply, fmt.Errorf("the worktree service of host %s did not answer: %w", w.host, err)
	}
	if err := json.Unmarshal(resp.Data, &reply); err != nil {
		return reply, fmt.Errorf("could not decode the worktree reply: %w", err)
	}
	return reply, nil
}

// History looks attempts up in the event log.
type History struct {
	js jetstream.JetStream
}

// NewHistory returns a History.
func NewHistory(js jetstream.JetStream) *History { return &History{js: js} }

// AttemptSeen reports whether the run's latest run.started, run.failed or
// run.canceled belongs to this attempt or a later one.
func (h *History) AttemptSeen(ctx context.Context, runID string, attempt int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, streams.Events)
	if err != nil {
		return false, fmt.Errorf("could not open %s: %w", streams.Events, err)
	}
	for _, t := range []string{"run.started", "run.failed", "run.canceled", "run.completed"} {
		m, err := s.GetLastMsgForSubject(ctx, subjects.Event(events.AggregateRun, runID, t))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			return false, fmt.Errorf("could not read the last %s of run %s: %w", t, runID, err)
		}
		if n, err := strconv.Atoi(m.Header.Get(envelope.HeaderAttempt)); err == nil && n >= attempt {
			return true, nil
		}
	}
	return false, nil
}

// PreviousSession returns the provider session the latest attempt before
// `before` opened on host (its run.started says where it ran), or "". A
// provider session lives in the CLI's files on the machine that ran it, so
// only a retry on the same host can resume it.
func (h *History) PreviousSession(ctx context.Context, runID string, before int, host string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := h.js.Stream(ctx, streams.Events)
	if err != nil {
		return "", fmt.Errorf("could not open %s: %w", streams.Events, err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{
		subjects.Event(events.AggregateRun, runID, "run.started"), subjects.Event(events.AggregateRun, runID, "run.semantic")}})
	if err != nil {
		return "", fmt.Errorf("could not read the events of run %s: %w", runID, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return "", fmt.Errorf("could not read the events of run %s: %w", runID, err)
	}
	if info.NumPending == 0 {
		return "", nil
	}
	hosts := map[int]string{}
	var session string
	bestAttempt := 0
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(2 * time.Second))
		if err != nil {
			return session, fmt.Errorf("could not read the events of run %s: %w", runID, err)
		}
		attempt, _ := strconv.Atoi(msg.Headers().Get(envelope.HeaderAttempt))
		if attempt > 0 && attempt < before {
			switch {
			case strings.HasSuffix(msg.Subject(), ".run.started"):
				var st events.RunStarted
				if json.Unmarshal(msg.Data(), &st) == nil {
					hosts[attempt] = st.Host
				}
			case bytes.Contains(msg.Data(), []byte(`"kind":"session"`)):
				var sem events.RunSemantic
				if json.Unmarshal(msg.Data(), &sem) == nil && sem.SessionID != "" && hosts[attempt] == host && attempt >= bestAttempt {
					session, bestAttempt = sem.SessionID, attempt
				}
			}
		}
		md, err := msg.Metadata()
		if err != nil || md.NumPending == 0 {
			return session, nil
		}
	}
}

// Registry is the runner's entry in the phantom_runners bucket.
type Registry struct {
	kv    jetstream.KeyValue
	entry streams.RunnerEntry
}

// OpenRegistry opens the bucket for entry (its RunnerID is the key).
func OpenRegistry(ctx context.Context, js jetstream.JetStream, entry streams.RunnerEntry) (*Registry, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, streams.RunnersBucket)
	if err != nil {
		return nil, fmt.Errorf("could not open bucket %s: %w", streams.RunnersBucket, err)
	}
	return &Registry{kv: kv, entry: entry}, nil
}

// Put writes the entry with the attempts running now; it also renews the
// entry's time to live.
func (r *Registry) Put(ctx context.Context, running []streams.RunnerAttempt) error {
	e := r.entry
	e.Running = running
	e.Updated = time.Now().UTC()
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("could not encode the runner entry: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := r.kv.Put(ctx, e.RunnerID, data); err != nil {
		return fmt.Errorf("could not write runner entry %s: %w", e.RunnerID, err)
	}
	return nil
}

// Delete removes the entry (the runner is leaving).
func (r *Registry) Delete(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.kv.Delete(ctx, r.entry.RunnerID); err != nil {
		return fmt.Errorf("could not delete runner entry %s: %w", r.entry.RunnerID, err)
	}
	return nil
}
