package projections

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
)

// GuardPolicies keeps guard_policies: the safety-guard policy of each scope
// (global, a workspace, a profile), as the gateway lists it.
type GuardPolicies struct{}

var _ engine.Projection = GuardPolicies{}

// Name implements engine.Projection.
func (GuardPolicies) Name() string { return readmodel.ProjectionGuardPolicies }

// Subjects implements engine.Projection.
func (GuardPolicies) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateGuardPolicy + ".>"}
}

// Tables implements engine.Projection.
func (GuardPolicies) Tables() []string { return []string{"guard_policies"} }

const (
	upsertGuardPolicySQL = `INSERT INTO guard_policies (id, scope, target, policy, updated_at, seq) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET scope = EXCLUDED.scope, target = EXCLUDED.target, policy = EXCLUDED.policy,
		updated_at = EXCLUDED.updated_at, seq = EXCLUDED.seq`
	deleteGuardPolicySQL = `DELETE FROM guard_policies WHERE id = $1`
)

// Apply implements engine.Projection. The statements keep the batch's
// order in one pipelined round trip.
func (GuardPolicies) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		switch e := ev.Payload.(type) {
		case *events.GuardPolicySaved:
			doc, err := json.Marshal(e.Policy)
			if err != nil {
				return fmt.Errorf("%w: event %s: %w", engine.ErrBadEvent, ev.ID, err)
			}
			q.Queue(upsertGuardPolicySQL, cleanText(e.PolicyID), cleanText(e.Scope), cleanText(e.Target), cleanJSON(doc), ev.Time, int64(ev.Seq))
		case *events.GuardPolicyDeleted:
			q.Queue(deleteGuardPolicySQL, cleanText(e.PolicyID))
		}
	}
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("could not store guard policies: %w", err)
	}
	return nil
}
