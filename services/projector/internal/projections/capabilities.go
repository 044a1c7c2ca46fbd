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

// Capabilities keeps capability_snapshots: each runner.capabilities
// replaces the runner's rows (an agent it no longer lists goes); a runner
// that drains or is lost takes its rows with it.
type Capabilities struct{}

var _ engine.Projection = Capabilities{}

// Name implements engine.Projection.
func (Capabilities) Name() string { return readmodel.ProjectionCapabilities }

// Subjects implements engine.Projection.
func (Capabilities) Subjects() []string {
	return []string{
		subjects.EventsOfType(events.AggregateRunner, "runner.capabilities"),
		subjects.EventsOfType(events.AggregateRunner, "runner.drained"),
		subjects.EventsOfType(events.AggregateRunner, "runner.lost"),
	}
}

// Tables implements engine.Projection.
func (Capabilities) Tables() []string { return []string{"capability_snapshots"} }

const upsertCapabilitySQL = `INSERT INTO capability_snapshots (runner_id, agent, host, command, found, version, support, reason,
  provider, default_model, plan_model, install, models, options, updated_at, seq)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, NULLIF($8, ''), NULLIF($9, ''), NULLIF($10, ''), NULLIF($11, ''), NULLIF($12, ''), $13, $14, $15, $16)
ON CONFLICT (runner_id, agent) DO UPDATE SET host = excluded.host, command = excluded.command, found = excluded.found,
  version = excluded.version, support = excluded.support, reason = excluded.reason, provider = excluded.provider,
  default_model = excluded.default_model, plan_model = excluded.plan_model, install = excluded.install,
  models = excluded.models, options = excluded.options, updated_at = excluded.updated_at, seq = excluded.seq
WHERE capability_snapshots.seq < excluded.seq`

// Apply implements engine.Projection.
func (Capabilities) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		seq := int64(ev.Seq)
		switch e := ev.Payload.(type) {
		case *events.RunnerCapabilities:
			agents := make([]string, 0, len(e.Agents))
			for _, a := range e.Agents {
				agents = append(agents, a.Agent)
				models, _ := json.Marshal(nonNil(a.Models))
				options, _ := json.Marshal(nonNil(a.Options))
				q.Queue(upsertCapabilitySQL, e.RunnerID, a.Agent, e.Host, a.Command, a.Found, a.Version, a.Support, a.Reason,
					a.Provider, a.DefaultModel, a.PlanModel, a.Install, string(models), string(options), ev.Time, seq)
			}
			q.Queue(`DELETE FROM capability_snapshots WHERE runner_id = $1 AND NOT (agent = ANY($2)) AND seq < $3`, e.RunnerID, agents, seq)
		case *events.RunnerDrained:
			q.Queue(`DELETE FROM capability_snapshots WHERE runner_id = $1 AND seq < $2`, e.RunnerID, seq)
		case *events.RunnerLost:
			q.Queue(`DELETE FROM capability_snapshots WHERE runner_id = $1 AND seq < $2`, e.RunnerID, seq)
		}
	}
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("could not write capability snapshots: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
