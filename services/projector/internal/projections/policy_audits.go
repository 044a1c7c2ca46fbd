package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/engine"
)

// PolicyAudits keeps policy_audits: one row per run.policy_audit, the
// safety guard's decisions, for listings by run and by decision.
//
// A batch is written as one pipelined round trip of inserts that skip an
// event already stored (the same ce-id published again after the stream's
// duplicate window, or a sequence seen before).
type PolicyAudits struct{}

var _ engine.Projection = PolicyAudits{}

// Name implements engine.Projection.
func (PolicyAudits) Name() string { return readmodel.ProjectionPolicyAudits }

// Subjects implements engine.Projection: every run's policy audits.
func (PolicyAudits) Subjects() []string {
	return []string{subjects.EventsOfType(events.AggregateRun, events.RunPolicyAudit{}.EventType())}
}

// Tables implements engine.Projection.
func (PolicyAudits) Tables() []string { return []string{"policy_audits"} }

const insertAuditSQL = `INSERT INTO policy_audits (seq, id, run_id, attempt, time, decision, rule, command, segment,
	reason, cwd, mode, origin, agent, policies, source)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT DO NOTHING`

// Apply implements engine.Projection.
func (PolicyAudits) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		a, ok := ev.Payload.(*events.RunPolicyAudit)
		if !ok {
			continue
		}
		runID := a.RunID
		if p, err := subjects.ParseEvent(ev.NATSSubject); err == nil {
			// The subject is where the event was filed; it wins over the payload.
			runID = p.ID
		}
		attempt := a.Attempt
		if attempt == 0 {
			attempt = headerAttempt(ev)
		}
		var attemptCol *int32
		if attempt > 0 && attempt <= 1<<31-1 {
			n := int32(attempt)
			attemptCol = &n
		}
		policies := make([]string, len(a.Policies))
		for i, p := range a.Policies {
			policies[i] = cleanText(p)
		}
		q.Queue(insertAuditSQL, int64(ev.Seq), cleanText(ev.ID), cleanText(runID), attemptCol, ev.Time,
			cleanText(a.Decision), optText(a.Rule), cleanText(a.Command), optText(a.Segment), optText(a.Reason),
			optText(a.Cwd), optText(a.Mode), optText(a.Origin), optText(a.Agent), policies, cleanText(ev.Source))
	}
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("could not store %d policy audits: %w", q.Len(), err)
	}
	return nil
}

// optText is a nullable text column: NULL for "".
func optText(s string) *string {
	if s == "" {
		return nil
	}
	c := cleanText(s)
	return &c
}
