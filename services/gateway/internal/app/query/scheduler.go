package query

import (
	"context"
	"encoding/json"
	"time"

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

// Hold is a provider's last hold.
type Hold struct {
	Until         time.Time  `json:"until"`
	Reason        *string    `json:"reason"`
	ResetKnown    *bool      `json:"resetKnown"`
	RunID         *string    `json:"runId"`
	Message       *string    `json:"message"`
	Since         *time.Time `json:"since"`
	ReleasedAt    *time.Time `json:"releasedAt"`
	ReleaseReason *string    `json:"releaseReason"`
}

// Provider is one provider's runs and hold.
type Provider struct {
	Provider string `json:"provider"`
	Queued   int    `json:"queued"`
	Retrying int    `json:"retrying"`
	Running  int    `json:"running"`
	// Held is true while a hold is on (not released, its end in the future).
	Held     bool  `json:"held"`
	LastHold *Hold `json:"lastHold"`
	Holds    int   `json:"holds"`
}

// Runner is one runner of the fleet.
type Runner struct {
	RunnerID     string     `json:"runnerId"`
	Host         string     `json:"host"`
	Pool         string     `json:"pool"`
	Slots        int        `json:"slots"`
	Version      string     `json:"version"`
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"startedAt"`
	RegisteredAt time.Time  `json:"registeredAt"`
	LastSeen     time.Time  `json:"lastSeen"`
	LostAt       *time.Time `json:"lostAt"`
	DrainedAt    *time.Time `json:"drainedAt"`
	// LeftRuns are the runs it held when lost, or handed back when drained.
	LeftRuns []string `json:"leftRuns"`
	// Running are the runs running on it now.
	Running []string `json:"running"`
}

// ProfileRow is a profile of the read model.
type ProfileRow struct {
	Name          string          `json:"name"`
	Defaults      json.RawMessage `json:"defaults"`
	MaxConcurrent *int            `json:"maxConcurrent"`
	UpdatedAt     time.Time       `json:"updatedAt"`
}

// QueueSource asks the active scheduler for its queue.
type QueueSource interface {
	// Queue reports false when no scheduler answers.
	Queue(ctx context.Context, req rpc.SchedulerQueueRequest) (rpc.SchedulerQueueReply, bool, error)
}

// SchedulerStore reads the scheduler's read models.
type SchedulerStore interface {
	Jobs(ctx context.Context, pool, provider string, limit int) ([]Job, int, error)
	Providers(ctx context.Context) ([]Provider, error)
	Runners(ctx context.Context) ([]Runner, error)
	Profiles(ctx context.Context) ([]ProfileRow, error)
}

// Scheduler reads the queue, the providers, the fleet and the profiles.
type Scheduler struct {
	live  QueueSource
	store SchedulerStore
	now   func() time.Time
}

// NewScheduler returns the use case.
func NewScheduler(live QueueSource, store SchedulerStore) *Scheduler {
	return &Scheduler{live: live, store: store, now: time.Now}
}

// Queue is GET /v1/queue's answer.
type Queue struct {
	// Live is true when the active scheduler answered: positions, effective
	// priorities and why each run waits are its own. False: no scheduler
	// answered (a failover is under way) and the list is the scheduler_jobs
	// read model's, in priority then age order, without them.
	Live     bool                 `json:"live"`
	Instance string               `json:"instance,omitempty"`
	AsOf     time.Time            `json:"asOf"`
	Limits   *rpc.SchedulerLimits `json:"limits"`
	Pending  int                  `json:"pending"`
	Running  int                  `json:"running"`
	Jobs     []rpc.QueueJob       `json:"jobs"`
}

// WaitUnknown is why a run waits when only the read model answers.
const WaitUnknown = "unknown"

// MaxQueueLimit bounds the jobs of one answer.
const MaxQueueLimit = 1000

// Queue returns the pending runs.
func (s *Scheduler) Queue(ctx context.Context, pool, provider string, limit int) (Queue, error) {
	for field, v := range map[string]string{"pool": pool, "provider": provider} {
		if v != "" && !subjects.ValidToken(v) {
			return Queue{}, apperr.Invalid(field, "%s %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field, runs.Clip(v))
		}
	}
	if limit < 0 || limit > MaxQueueLimit {
		return Queue{}, apperr.Invalid("limit", "limit must be an integer in 1..=%d", MaxQueueLimit)
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
		return Queue{Live: true, Instance: reply.Instance, AsOf: reply.AsOf, Limits: &lim, Pending: reply.Pending, Running: reply.Running, Jobs: jobs}, nil
	}
	rows, running, err := s.store.Jobs(ctx, pool, provider, limit)
	if err != nil {
		return Queue{}, apperr.Unavailable(err, "could not read the queue; retry later")
	}
	now := s.now().UTC()
	q := Queue{AsOf: now, Pending: len(rows), Running: running, Jobs: make([]rpc.QueueJob, len(rows))}
	for i, r := range rows {
		why := WaitUnknown
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
func (s *Scheduler) Providers(ctx context.Context) ([]Provider, error) {
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
		ps = []Provider{}
	}
	return ps, nil
}

// Runners returns the fleet.
func (s *Scheduler) Runners(ctx context.Context) ([]Runner, error) {
	rs, err := s.store.Runners(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the runners; retry later")
	}
	if rs == nil {
		rs = []Runner{}
	}
	return rs, nil
}

// Profiles returns every profile.
func (s *Scheduler) Profiles(ctx context.Context) ([]ProfileRow, error) {
	ps, err := s.store.Profiles(ctx)
	if err != nil {
		return nil, apperr.Unavailable(err, "could not read the profiles; retry later")
	}
	if ps == nil {
		ps = []ProfileRow{}
	}
	return ps, nil
}
