package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// RunStatus returns a run's status in the read model.
func (s *Store) RunStatus(ctx context.Context, id string) (runs.Status, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var status string
	err := s.db.QueryRow(ctx, `SELECT status FROM runs WHERE id = $1`, id).Scan(&status)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("could not read run %s: %w", id, err)
	}
	return runs.Status(status), true, nil
}

// Jobs returns the pending runs of scheduler_jobs (requested, queued,
// waiting for a retry), highest priority then oldest first.
func (s *Store) Jobs(ctx context.Context, pool, provider string, limit int) ([]query.Job, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT run_id, status, attempt, agent, provider, pool, coalesce(profile, ''), workspace, priority,
			coalesce(queued_at, requested_at), not_before, retry_reason
		FROM scheduler_jobs
		WHERE status IN ('requested', 'queued', 'retry_wait')
		  AND ($1::text = '' OR pool = $1) AND ($2::text = '' OR provider = $2)
		ORDER BY (status = 'queued') DESC, priority DESC, coalesce(queued_at, requested_at), run_id`, pool, provider)
	if err != nil {
		return nil, 0, fmt.Errorf("could not read the queue: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (query.Job, error) {
		var j query.Job
		err := row.Scan(&j.RunID, &j.Status, &j.Attempt, &j.Agent, &j.Provider, &j.Pool, &j.Profile, &j.Workspace,
			&j.Priority, &j.QueuedAt, &j.NotBefore, &j.RetryReason)
		return j, err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("could not read the queue: %w", err)
	}
	var running int
	if err := s.db.QueryRow(ctx, `SELECT count(*) FROM scheduler_jobs WHERE status IN ('dispatched', 'running')`).Scan(&running); err != nil {
		return nil, 0, fmt.Errorf("could not count the running runs: %w", err)
	}
	if limit > 0 && len(jobs) > limit {
		jobs = jobs[:limit]
	}
	return jobs, running, nil
}

// Providers returns every provider the queue or the holds know, with its
// runs by state and its last hold.
func (s *Store) Providers(ctx context.Context) ([]api.ProviderState, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `WITH counts AS (
			SELECT provider,
				count(*) FILTER (WHERE status IN ('requested', 'queued')) AS queued,
				count(*) FILTER (WHERE status = 'retry_wait') AS retrying,
				count(*) FILTER (WHERE status IN ('dispatched', 'running')) AS running
			FROM scheduler_jobs GROUP BY provider)
		SELECT coalesce(c.provider, h.provider), coalesce(c.queued, 0), coalesce(c.retrying, 0), coalesce(c.running, 0),
			h.held_until, h.reason, h.reset_known, h.run_id, h.message, h.held_at, h.released_at, h.release_reason, coalesce(h.holds, 0)
		FROM counts c FULL JOIN provider_holds h ON h.provider = c.provider
		ORDER BY 1`)
	if err != nil {
		return nil, fmt.Errorf("could not read the providers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.ProviderState, error) {
		var p api.ProviderState
		var h api.ProviderHold
		var until *time.Time
		err := row.Scan(&p.Provider, &p.Queued, &p.Retrying, &p.Running, &until, &h.Reason, &h.ResetKnown, &h.RunID, &h.Message,
			&h.Since, &h.ReleasedAt, &h.ReleaseReason, &p.Holds)
		if err == nil && until != nil {
			h.Until = *until
			p.LastHold = &h
		}
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("could not read the providers: %w", err)
	}
	return out, nil
}

// Runners returns the fleet, with the runs each is running now.
func (s *Store) Runners(ctx context.Context) ([]api.Runner, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT r.runner_id, r.host, r.pool, r.slots, r.version, r.status, r.started_at, r.registered_at,
			r.last_seen, r.lost_at, r.drained_at, r.runs,
			coalesce((SELECT array_agg(j.run_id ORDER BY j.run_id) FROM scheduler_jobs j WHERE j.runner_id = r.runner_id AND j.status = 'running'), '{}')
		FROM runners r ORDER BY r.status = 'active' DESC, r.runner_id`)
	if err != nil {
		return nil, fmt.Errorf("could not read the runners: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.Runner, error) {
		var r api.Runner
		err := row.Scan(&r.RunnerID, &r.Host, &r.Pool, &r.Slots, &r.Version, &r.Status, &r.StartedAt, &r.RegisteredAt,
			&r.LastSeen, &r.LostAt, &r.DrainedAt, &r.LeftRuns, &r.Running)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("could not read the runners: %w", err)
	}
	return out, nil
}

// Profiles returns every profile as the read model has it.
func (s *Store) Profiles(ctx context.Context) ([]api.Profile, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT name, defaults, max_concurrent, updated_at FROM profiles ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("could not read the profiles: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.Profile, error) {
		var p api.Profile
		var defaults []byte
		if err := row.Scan(&p.Name, &defaults, &p.MaxConcurrent, &p.UpdatedAt); err != nil {
			return p, err
		}
		if err := json.Unmarshal(defaults, &p.Defaults); err != nil {
			return p, fmt.Errorf("profile %s has defaults that are not a run request: %w", p.Name, err)
		}
		return p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("could not read the profiles: %w", err)
	}
	return out, nil
}
