package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
)

// The projections of the scheduler's area: the queue
// (scheduler_jobs), the fleet (runners), provider holds (provider_holds)
// and profiles. Each event is one guarded statement (a row changes only if
// the event follows from its state: the same attempt, a later one), queued
// in one pgx.Batch per batch of events: one round trip per batch. Times are
// the events' ce-times, so a replay gives the same rows.

// SchedulerJobs keeps scheduler_jobs: one row per run the scheduler has not
// finished with. Its rules are the scheduler's queue's (fencing by attempt,
// an attempt that failed retryably abandoned until the next).
type SchedulerJobs struct{}

var _ engine.Projection = SchedulerJobs{}

// Name implements engine.Projection.
func (SchedulerJobs) Name() string { return readmodel.ProjectionSchedulerJobs }

// Subjects implements engine.Projection: every run event (one filter,
// which the server serves far faster than a list of types).
func (SchedulerJobs) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateRun + ".>"}
}

// Tables implements engine.Projection.
func (SchedulerJobs) Tables() []string { return []string{"scheduler_jobs"} }

// Apply implements engine.Projection.
func (SchedulerJobs) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		queueJob(&q, ev)
	}
	return send(ctx, tx, &q, "scheduler_jobs")
}

func queueJob(q *pgx.Batch, ev bus.Event) {
	t, seq := ev.Time, int64(ev.Seq)
	switch p := ev.Payload.(type) {
	case *events.RunRequested:
		s := p.Spec
		q.Queue(`INSERT INTO scheduler_jobs (run_id, status, attempt, agent, provider, pool, profile, workspace, priority,
			requested_at, updated_at, last_seq) VALUES ($1, 'requested', 0, $2, $3, $4, $5, $6, $7, $8, $8, $9)
			ON CONFLICT (run_id) DO NOTHING`,
			cleanText(p.RunID), cleanText(s.Agent), cleanText(s.ProviderOrAgent()), cleanText(s.PoolOrDefault()),
			cleanTextp(nonEmpty(s.Profile)), cleanText(s.Workspace), s.PriorityOrZero(), t, seq)
	case *events.RunQueued:
		q.Queue(`UPDATE scheduler_jobs SET status = 'queued', attempt = $2, priority = $3, provider = $4, pool = $5,
			queued_at = COALESCE(queued_at, $6), not_before = NULL, runner_id = NULL, dispatched_at = NULL,
			started_at = NULL, deadline = NULL, updated_at = $6, last_seq = $7
			WHERE run_id = $1 AND attempt < $2`,
			cleanText(p.RunID), p.Attempt, p.Priority, cleanText(p.Provider), cleanText(p.Pool), t, seq)
	case *events.RunDispatched:
		q.Queue(`UPDATE scheduler_jobs SET status = 'dispatched', dispatched_at = $3, deadline = $4, updated_at = $3, last_seq = $5
			WHERE run_id = $1 AND attempt = $2 AND status = 'queued'`,
			cleanText(p.RunID), p.Attempt, t, p.Deadline, seq)
	case *events.RunStarted:
		q.Queue(`UPDATE scheduler_jobs SET status = 'running', runner_id = $3, started_at = $4, updated_at = $4, last_seq = $5
			WHERE run_id = $1 AND attempt = $2 AND status = 'dispatched'`,
			cleanText(p.RunID), p.Attempt, cleanText(p.RunnerID), t, seq)
	case *events.RunRetryScheduled:
		q.Queue(`UPDATE scheduler_jobs SET status = 'retry_wait', not_before = $3, retry_reason = $4,
			retries = retries + $5, updated_at = $6, last_seq = $7
			WHERE run_id = $1 AND attempt = $2 AND status = 'retry_wait'`,
			cleanText(p.RunID), p.Attempt, p.NotBefore, cleanText(p.Reason), retryCount(p.Reason), t, seq)
	case *events.RunFailed:
		if p.Retryable {
			q.Queue(`UPDATE scheduler_jobs SET status = 'retry_wait', retry_reason = $3, runner_id = NULL, updated_at = $4, last_seq = $5
				WHERE run_id = $1 AND attempt = $2 AND status IN ('dispatched', 'running')`,
				cleanText(p.RunID), p.Attempt, cleanText(p.Reason), t, seq)
			return
		}
		ended(q, p.RunID, p.Attempt)
	case *events.RunCompleted:
		ended(q, p.RunID, p.Attempt)
	case *events.RunCanceled:
		ended(q, p.RunID, p.Attempt)
	case *events.RunRejected:
		q.Queue(`DELETE FROM scheduler_jobs WHERE run_id = $1 AND status = 'requested'`, cleanText(p.RunID))
	}
}

// ended removes a run whose attempt ended; an end of the attempt a run
// waits to retry is a late event of an abandoned attempt.
func ended(q *pgx.Batch, runID string, attempt int) {
	q.Queue(`DELETE FROM scheduler_jobs WHERE run_id = $1 AND (attempt < $2 OR attempt = $2 AND status <> 'retry_wait')`,
		cleanText(runID), attempt)
}

func retryCount(reason string) int {
	if runs.HoldReason(reason) {
		return 0
	}
	return 1
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Runners keeps runners: the fleet as runner.registered, runner.lost and
// runner.drained tell it.
type Runners struct{}

var _ engine.Projection = Runners{}

// Name implements engine.Projection.
func (Runners) Name() string { return readmodel.ProjectionRunners }

// Subjects implements engine.Projection.
func (Runners) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateRunner + ".>"}
}

// Tables implements engine.Projection.
func (Runners) Tables() []string { return []string{"runners"} }

// Apply implements engine.Projection.
func (Runners) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		t, seq := ev.Time, int64(ev.Seq)
		switch p := ev.Payload.(type) {
		case *events.RunnerRegistered:
			q.Queue(`INSERT INTO runners (runner_id, host, pool, slots, version, status, started_at, registered_at, last_seen, updated_at, last_seq)
				VALUES ($1, $2, $3, $4, $5, 'active', $6, $7, $7, $7, $8)
				ON CONFLICT (runner_id) DO UPDATE SET host = EXCLUDED.host, pool = EXCLUDED.pool, slots = EXCLUDED.slots,
				version = EXCLUDED.version, status = 'active', started_at = EXCLUDED.started_at, registered_at = EXCLUDED.registered_at,
				last_seen = EXCLUDED.last_seen, lost_at = NULL, drained_at = NULL, runs = '{}', updated_at = EXCLUDED.updated_at,
				last_seq = EXCLUDED.last_seq`,
				cleanText(p.RunnerID), cleanText(p.Host), cleanText(p.Pool), p.Slots, cleanText(p.Version), p.Started, t, seq)
		case *events.RunnerLost:
			q.Queue(`INSERT INTO runners (runner_id, host, pool, slots, version, status, started_at, registered_at, last_seen, lost_at, runs, updated_at, last_seq)
				VALUES ($1, '', '', 0, '', 'lost', $2, $2, $2, $3, $4, $3, $5)
				ON CONFLICT (runner_id) DO UPDATE SET status = 'lost', last_seen = EXCLUDED.last_seen, lost_at = EXCLUDED.lost_at,
				runs = EXCLUDED.runs, updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`,
				cleanText(p.RunnerID), p.LastSeen, t, cleanTexts(p.Runs), seq)
		case *events.RunnerDrained:
			q.Queue(`UPDATE runners SET status = 'drained', drained_at = $2, runs = $3, updated_at = $2, last_seq = $4 WHERE runner_id = $1`,
				cleanText(p.RunnerID), t, cleanTexts(p.Runs), seq)
		}
	}
	return send(ctx, tx, &q, "runners")
}

func cleanTexts(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = cleanText(s)
	}
	return out
}

// ProviderHolds keeps provider_holds: each provider's last hold.
type ProviderHolds struct{}

var _ engine.Projection = ProviderHolds{}

// Name implements engine.Projection.
func (ProviderHolds) Name() string { return readmodel.ProjectionProviderHolds }

// Subjects implements engine.Projection.
func (ProviderHolds) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateProvider + ".>"}
}

// Tables implements engine.Projection.
func (ProviderHolds) Tables() []string { return []string{"provider_holds"} }

// Apply implements engine.Projection.
func (ProviderHolds) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		t, seq := ev.Time, int64(ev.Seq)
		switch p := ev.Payload.(type) {
		case *events.ProviderHeld:
			var attempt *int
			if p.Attempt > 0 {
				attempt = &p.Attempt
			}
			q.Queue(`INSERT INTO provider_holds (provider, held_until, reason, reset_known, run_id, attempt, message, held_at, holds, updated_at, last_seq)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $8, $9)
				ON CONFLICT (provider) DO UPDATE SET held_until = EXCLUDED.held_until, reason = EXCLUDED.reason,
				reset_known = EXCLUDED.reset_known, run_id = EXCLUDED.run_id, attempt = EXCLUDED.attempt, message = EXCLUDED.message,
				held_at = EXCLUDED.held_at, released_at = NULL, release_reason = NULL, holds = provider_holds.holds + 1,
				updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`,
				cleanText(p.Provider), p.Until, cleanText(p.Reason), p.ResetKnown, cleanTextp(nonEmpty(p.RunID)), attempt,
				cleanTextp(nonEmpty(p.Message)), t, seq)
		case *events.ProviderReleased:
			q.Queue(`UPDATE provider_holds SET released_at = $3, release_reason = $4, updated_at = $3, last_seq = $5
				WHERE provider = $1 AND held_until <= $2 AND released_at IS NULL`,
				cleanText(p.Provider), p.Until, t, cleanText(p.Reason), seq)
		}
	}
	return send(ctx, tx, &q, "provider_holds")
}

// Profiles keeps profiles: the latest profile.saved of each name.
type Profiles struct{}

var _ engine.Projection = Profiles{}

// Name implements engine.Projection.
func (Profiles) Name() string { return readmodel.ProjectionProfiles }

// Subjects implements engine.Projection.
func (Profiles) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateProfile + ".>"}
}

// Tables implements engine.Projection.
func (Profiles) Tables() []string { return []string{"profiles"} }

// Apply implements engine.Projection.
func (Profiles) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		if p, ok := ev.Payload.(*events.ProfileSaved); ok {
			defaults := []byte(p.Defaults)
			if len(defaults) == 0 {
				defaults = []byte("{}")
			}
			q.Queue(`INSERT INTO profiles (name, defaults, max_concurrent, created_at, updated_at, last_seq)
				VALUES ($1, $2, $3, $4, $4, $5)
				ON CONFLICT (name) DO UPDATE SET defaults = EXCLUDED.defaults, max_concurrent = EXCLUDED.max_concurrent,
				updated_at = EXCLUDED.updated_at, last_seq = EXCLUDED.last_seq`,
				cleanText(p.Name), string(cleanJSON(defaults)), p.MaxConcurrent, ev.Time, int64(ev.Seq))
		}
	}
	return send(ctx, tx, &q, "profiles")
}

// send runs a batch of statements in one round trip.
func send(ctx context.Context, tx pgx.Tx, q *pgx.Batch, table string) error {
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, q).Close(); err != nil {
		return fmt.Errorf("could not write %s: %w", table, err)
	}
	return nil
}
