// Package pgstore reads the runs read model (contracts/readmodel) from
// Postgres with pgx. The gateway never writes read models: the projector
// alone does.
package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// Store reads runs.
type Store struct {
	db *pgxpool.Pool
	// timeout bounds every query.
	timeout time.Duration
}

// New returns a store on db; timeout bounds each query.
func New(db *pgxpool.Pool, timeout time.Duration) *Store {
	return &Store{db: db, timeout: timeout}
}

const runColumns = `id, agent, provider, pool, prompt, workspace, spec, status, priority, attempt,
	runner_id, host, pid, cwd, exit_code, reason, message, result, rerun_of, conversation_id,
	requested_by, archived, created_at, queued_at, dispatched_at, started_at, finished_at,
	updated_at, last_seq`

func scanRun(row pgx.Row) (api.Run, error) {
	var r api.Run
	var spec []byte
	err := row.Scan(&r.ID, &r.Agent, &r.Provider, &r.Pool, &r.Prompt, &r.Workspace, &spec, &r.Status,
		&r.Priority, &r.Attempt, &r.RunnerID, &r.Host, &r.PID, &r.Cwd, &r.ExitCode, &r.Reason,
		&r.Message, &r.Result, &r.RerunOf, &r.ConversationID, &r.RequestedBy, &r.Archived,
		&r.CreatedAt, &r.QueuedAt, &r.DispatchedAt, &r.StartedAt, &r.FinishedAt, &r.UpdatedAt, &r.LastSeq)
	r.Spec = spec
	return r, err
}

// Run returns one run.
func (s *Store) Run(ctx context.Context, id string) (api.Run, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r, err := scanRun(s.db.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return api.Run{}, false, nil
	}
	if err != nil {
		return api.Run{}, false, fmt.Errorf("could not read run %s: %w", id, err)
	}
	return r, true, nil
}

// RunExists reports whether the read model has the run.
func (s *Store) RunExists(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var found bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)`, id).Scan(&found); err != nil {
		return false, fmt.Errorf("could not look run %s up: %w", id, err)
	}
	return found, nil
}

// Runs returns the runs f selects, newest (greatest id) first. Each filter
// is a parameter that disables itself when empty, so the plan stays one
// statement; runs_status_idx (status, id DESC) serves status filters.
func (s *Store) Runs(ctx context.Context, f query.ListFilter) ([]api.Run, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	statuses := f.Statuses
	if statuses == nil {
		statuses = []string{}
	}
	rows, err := s.db.Query(ctx, `SELECT `+runColumns+` FROM runs
		WHERE (cardinality($1::text[]) = 0 OR status = ANY($1::text[]))
		  AND ($2::boolean OR NOT archived)
		  AND ($3::text = '' OR id < $3::text)
		ORDER BY id DESC
		LIMIT $4`, statuses, f.IncludeArchived, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("could not list runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.Run, error) { return scanRun(row) })
	if err != nil {
		return nil, fmt.Errorf("could not list runs: %w", err)
	}
	return out, nil
}
