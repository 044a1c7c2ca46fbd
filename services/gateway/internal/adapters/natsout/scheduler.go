package natsout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
)

// SchedulerClient is the gateway's side of the scheduler's area on the bus: the
// queue asked of the active scheduler, cancels, profiles and run requests
// read from the event log (the truth; the read model lags it).
type SchedulerClient struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	pub     *bus.Publisher
	timeout time.Duration
}

// NewSchedulerClient returns the adapter; timeout bounds each request or lookup.
func NewSchedulerClient(nc *nats.Conn, js jetstream.JetStream, pub *bus.Publisher, timeout time.Duration) *SchedulerClient {
	return &SchedulerClient{nc: nc, js: js, pub: pub, timeout: timeout}
}

// Queue asks the active scheduler for its queue. It reports false when no
// scheduler answers (none is active: a failover is under way).
func (s *SchedulerClient) Queue(ctx context.Context, req rpc.SchedulerQueueRequest) (rpc.SchedulerQueueReply, bool, error) {
	var reply rpc.SchedulerQueueReply
	data, err := json.Marshal(req)
	if err != nil {
		return reply, false, fmt.Errorf("could not encode the queue request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, min(s.timeout, 3*time.Second))
	defer cancel()
	msg, err := s.nc.RequestWithContext(ctx, subjects.SchedulerQueue, data)
	switch {
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded):
		return reply, false, nil
	case err != nil:
		return reply, false, fmt.Errorf("could not ask the scheduler for its queue: %w", err)
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return reply, false, fmt.Errorf("could not decode the scheduler's queue: %w", err)
	}
	if reply.Error != "" {
		return reply, false, fmt.Errorf("the scheduler could not answer: %s", reply.Error)
	}
	return reply, true, nil
}

// SendCancel subscribes to the run's events, then publishes the cancel.
func (s *SchedulerClient) SendCancel(ctx context.Context, cmd commands.CancelRun) (command.EndWaiter, error) {
	rw, err := watchThenSend(ctx, s.nc, cmd.RunID, func() error {
		_, err := s.pub.Command(ctx, cmd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &endWaiter{runWatch: rw}, nil
}

type endWaiter struct{ *runWatch }

// WaitEnd returns the status of the run's first terminal event within d.
func (w *endWaiter) WaitEnd(ctx context.Context, d time.Duration) runs.Status {
	var status runs.Status
	w.next(ctx, d, func(msg *nats.Msg) bool {
		env, err := envelope.FromHeader(msg.Header, msg.Data)
		if err != nil {
			return false
		}
		p, err := events.Decode(env.Type, env.Data)
		if err != nil || !events.Terminal(p) {
			return false
		}
		switch p.(type) {
		case *events.RunCanceled:
			status = runs.StatusCanceled
		case *events.RunCompleted:
			status = runs.StatusCompleted
		case *events.RunRejected:
			status = runs.StatusRejected
		default:
			status = runs.StatusFailed
		}
		return true
	})
	return status
}

// lastEvent reads the last event on one subject, nil when there is none.
func (s *SchedulerClient) lastEvent(ctx context.Context, subject string) (events.Payload, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	st, err := s.js.Stream(ctx, streams.Events)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("could not open %s: %w", streams.Events, err)
	}
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("could not read %s: %w", subject, err)
	}
	env, err := envelope.FromHeader(m.Header, m.Data)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("could not read %s: %w", subject, err)
	}
	p, err := events.Decode(env.Type, env.Data)
	if err != nil {
		return nil, time.Time{}, err
	}
	return p, env.Time, nil
}

// Request returns the spec of a run's run.requested.
func (s *SchedulerClient) Request(ctx context.Context, runID string) (runs.Spec, bool, error) {
	p, _, err := s.lastEvent(ctx, subjects.Event(events.AggregateRun, runID, events.RunRequested{}.EventType()))
	if err != nil || p == nil {
		return runs.Spec{}, false, err
	}
	return p.(*events.RunRequested).Spec, true, nil
}

// Profile returns a profile as last saved.
func (s *SchedulerClient) Profile(ctx context.Context, name string) (api.Profile, bool, error) {
	p, at, err := s.lastEvent(ctx, subjects.Event(events.AggregateProfile, name, events.ProfileSaved{}.EventType()))
	if err != nil || p == nil {
		return api.Profile{}, false, err
	}
	saved := p.(*events.ProfileSaved)
	prof := api.Profile{Name: name, MaxConcurrent: saved.MaxConcurrent, UpdatedAt: at}
	if len(saved.Defaults) > 0 {
		if err := json.Unmarshal(saved.Defaults, &prof.Defaults); err != nil {
			return api.Profile{}, false, fmt.Errorf("could not read the defaults of profile %s: %w", name, err)
		}
	}
	return prof, true, nil
}

// SaveProfile appends profile.saved and returns its time.
func (s *SchedulerClient) SaveProfile(ctx context.Context, name string, defaults json.RawMessage, maxConcurrent *int) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	at := time.Now().UTC()
	if _, err := s.pub.Event(ctx, events.ProfileSaved{Name: name, Defaults: defaults, MaxConcurrent: maxConcurrent}, bus.WithTime(at)); err != nil {
		return time.Time{}, err
	}
	return at, nil
}

// Exists reports whether the log has the run's run.requested.
func (s *SchedulerClient) Exists(ctx context.Context, runID string) (bool, error) {
	_, found, err := s.Request(ctx, runID)
	return found, err
}
