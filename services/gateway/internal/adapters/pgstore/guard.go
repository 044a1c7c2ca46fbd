package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

const auditColumns = `seq, id, run_id, attempt, time, decision, rule, command, segment, reason, cwd, mode, origin, agent, policies`

func scanAudit(row pgx.Row) (api.PolicyAudit, error) {
	var a api.PolicyAudit
	err := row.Scan(&a.Seq, &a.ID, &a.RunID, &a.Attempt, &a.Time, &a.Decision, &a.Rule, &a.Command, &a.Segment,
		&a.Reason, &a.Cwd, &a.Mode, &a.Origin, &a.Agent, &a.Policies)
	if a.Policies == nil {
		a.Policies = []string{}
	}
	return a, err
}

// Audits returns the decisions f selects, newest first. The filters disable
// themselves when empty; policy_audits_run_idx and policy_audits_decision_idx
// serve the run and decision filters.
func (s *Store) Audits(ctx context.Context, f query.AuditFilter) ([]api.PolicyAudit, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT `+auditColumns+` FROM policy_audits
		WHERE ($1::text = '' OR run_id = $1::text)
		  AND ($2::text = '' OR decision = $2::text)
		  AND ($3::bigint = 0 OR seq < $3::bigint)
		ORDER BY seq DESC
		LIMIT $4`, f.RunID, f.Decision, f.Before, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("could not list policy audits: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.PolicyAudit, error) { return scanAudit(row) })
	if err != nil {
		return nil, fmt.Errorf("could not list policy audits: %w", err)
	}
	return out, nil
}

// RunPolicy counts a run's decisions and reads its latest denial, in one
// round trip.
func (s *Store) RunPolicy(ctx context.Context, runID string) (api.RunPolicy, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var p api.RunPolicy
	var b pgx.Batch
	b.Queue(`SELECT count(*), count(*) FILTER (WHERE decision = 'block') FROM policy_audits WHERE run_id = $1`, runID).
		QueryRow(func(row pgx.Row) error { return row.Scan(&p.Checks, &p.Denials) })
	b.Queue(`SELECT `+auditColumns+` FROM policy_audits WHERE run_id = $1 AND decision = 'block' ORDER BY seq DESC LIMIT 1`, runID).
		QueryRow(func(row pgx.Row) error {
			a, err := scanAudit(row)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err == nil {
				p.LastDenial = &a
			}
			return err
		})
	if err := s.db.SendBatch(ctx, &b).Close(); err != nil {
		return api.RunPolicy{}, fmt.Errorf("could not read the policy decisions of run %s: %w", runID, err)
	}
	return p, nil
}

// GuardPolicies returns every configured policy, global first.
func (s *Store) GuardPolicies(ctx context.Context) ([]api.GuardPolicyRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, `SELECT id, scope, target, policy, updated_at FROM guard_policies
		ORDER BY scope <> 'global', scope, target`)
	if err != nil {
		return nil, fmt.Errorf("could not list guard policies: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (api.GuardPolicyRecord, error) {
		var p api.GuardPolicyRecord
		var doc []byte
		err := row.Scan(&p.ID, &p.Scope, &p.Target, &doc, &p.UpdatedAt)
		p.Policy = doc
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("could not list guard policies: %w", err)
	}
	return out, nil
}
