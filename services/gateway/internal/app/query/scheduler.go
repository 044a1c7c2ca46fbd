package query

import (
	"context"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Job is a pending run of the scheduler_jobs read model.
type Job struct {
	RunID, Status, Agent, Provider, Pool, Profile, Workspace string
	Attempt, Priority                                        int
	QueuedAt                                                 time.Time
	NotBefore                                                *time.Time
	RetryReason                                              *string
}

// QueueSource asks the active scheduler for its queue.
type QueueSource interface {
	// Queue reports false when no scheduler answers.
	Queue(ctx context.Context, req rpc.SchedulerQueueRequest) (rpc.SchedulerQueueReply, bool, error)
}

// SchedulerStore reads the scheduler's read models.
type SchedulerStore interface {
	Jobs(ctx context.Context, pool, provider string, limit int) ([]Job, int, error)
	Providers(ctx context.Context) ([]api.ProviderState, error)
	Runners(ctx context.Context) ([]api.Runner, error)
	Profiles(ctx context.Context) ([]api.Profile, error)
}

// SchedulerView is the gateway's read-only view of the scheduler's area:
// the queue, the providers, the fleet and the profiles.
type SchedulerView struct {
	live  QueueSource
	store SchedulerStore
	now   func() time.Time
}

// NewSchedulerView returns the use case.
func NewSchedulerView(live QueueSource, store SchedulerStore) *SchedulerView {
	return &SchedulerView{live: live, store: store, now: time.Now}
}

// MaxQueueLimit bounds the jobs of one answer.
const MaxQueueLimit = 1000

// Queue returns the pending runs.
func (s *SchedulerView) Queue(ctx context.Context, pool, provider string, limit int) (api.Queue, error) {
	for field, v := range map[string]string{"pool": pool, "provider": provider} {
		if v != "" && !subjects.ValidToken(v) {
			return api.Queue{}, apperr.Invalid(field, "%s %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field, runs.Clip(v))
		}
	}
	if limit < 0 || limit > MaxQueueLimit {
		return api.Queue{}, apperr.Invalid("limit", "limit must be an integer in 1..=%d", MaxQueueLimit)
	}
	if limit == 0 {
		limit = MaxQueueLimit
	}
	reply, live, err := s.live.Queue(ctx, rpc.SchedulerQueueRequest{Pool: pool, Provider: provider, Limit: limit})
	if err == nil && live {
		lim := reply.Limits
		jobs := reply.Jobs
		if jobs == nil {
			jobs = []rpc.QueueJob{}
		}
		return api.Queue{Live: true, Instance: reply.Instance, AsOf: reply.AsOf, Limits: &lim, Pending: reply.Pending, Running: reply.Running, Jobs: jobs}, nil
	}
	rows, running, err := s.store.Jobs(ctx, pool, provider, limit)
	if err != nil {
		return api.Queue{}, apperr.Unavailable(err, "could not read the queue; retry later")
	}
	now := s.now().UTC()
	q := api.Queue{AsOf: now, Pending: len(rows), Running: running, Jobs: make([]rpc.QueueJob, len(rows))}
	for i, r := range rows {
		why := api.WaitUnknown
		switch r.Status {
		case "requested":
			why = rpc.WaitDecision
		case "retry_wait":
			why = rpc.WaitBackoff
		}
		q.Jobs[i] = rpc.QueueJob{RunID: r.RunID, Position: i + 1, Attempt: r.Attempt, Agent: r.Agent, Provider: r.Provider,
			Pool: r.Pool, Profile: r.Profile, Workspace: r.Workspace, Priority: r.Priority, EffectivePriority: float64(r.Priority),
			QueuedAt: r.QueuedAt.UTC(), WaitMs: max(now.Sub(r.QueuedAt).Milliseconds(), 0), Waiting: why, NotBefore: r.NotBefore}
	}
	return q, nil
}

// Providers returns each provider's runs and hold.
func (s *SchedulerView) Providers(ctx context.Context) ([]api.ProviderState, error) {
	ps, err := s.store.Providers(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the providers; retry later")
	}
	now := s.now()
	for i := range ps {
		h := ps[i].LastHold
		ps[i].Held = h != nil && h.ReleasedAt == nil && h.Until.After(now)
	}
	if ps == nil {
		ps = []api.ProviderState{}
	}
	return ps, nil
}

// Runners returns the fleet.
func (s *SchedulerView) Runners(ctx context.Context) ([]api.Runner, error) {
	rs, err := s.store.Runners(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the runners; retry later")
	}
	if rs == nil {
		rs = []api.Runner{}
	}
	return rs, nil
}

// Profiles returns every profile.
func (s *SchedulerView) Profiles(ctx context.Context) ([]api.Profile, error) {
	ps, err := s.store.Profiles(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the profiles; retry later")
	}
	if ps == nil {
		ps = []api.Profile{}
	}
	return ps, nil
}
