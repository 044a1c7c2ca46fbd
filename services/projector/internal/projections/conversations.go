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

// Conversations keeps conversations (title, agent, the provider session the
// next message resumes, archived), conversation_runs (each message and the
// run it started, in order) and run_conversations (the thread each run
// belongs to).
//
// The provider session comes from the runs themselves: a run's
// run.requested names its conversation, and the latest session a run of the
// thread reports (run.semantic of kind session) is the one the next message
// resumes. The run.requested comes first in the stream (the scheduler
// appends it before the run can be dispatched), so the thread is known by
// the time its run reports a session.
type Conversations struct{}

var _ engine.Projection = Conversations{}

// Name implements engine.Projection.
func (Conversations) Name() string { return readmodel.ProjectionConversations }

// Subjects implements engine.Projection.
func (Conversations) Subjects() []string {
	return []string{
		subjects.EventsRoot + "." + events.AggregateConversation + ".>",
		subjects.EventsOfType(events.AggregateRun, events.RunRequested{}.EventType()),
		subjects.EventsOfType(events.AggregateRun, events.RunSemantic{}.EventType()),
	}
}

// Tables implements engine.Projection.
func (Conversations) Tables() []string {
	return []string{"conversation_runs", "conversations", "run_conversations"}
}

// Apply implements engine.Projection.
func (Conversations) Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error {
	var q pgx.Batch
	for _, ev := range batch {
		seq := int64(ev.Seq)
		switch e := ev.Payload.(type) {
		case *events.ConversationCreated:
			q.Queue(`INSERT INTO conversations (id, title, agent, provider, workspace, model, profile, created_at, updated_at, seq)
VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $8, $9) ON CONFLICT (id) DO NOTHING`,
				e.ConversationID, e.Title, e.Agent, e.Provider, e.Workspace, e.Model, e.Profile, ev.Time, seq)
		case *events.ConversationRenamed:
			q.Queue(`UPDATE conversations SET title = $2, updated_at = $3, seq = $4 WHERE id = $1 AND seq < $4`,
				e.ConversationID, e.Title, ev.Time, seq)
		case *events.ConversationUpdated:
			q.Queue(`UPDATE conversations SET model = COALESCE(NULLIF($2, ''), model), profile = COALESCE(NULLIF($3, ''), profile),
updated_at = $4, seq = $5 WHERE id = $1 AND seq < $5`, e.ConversationID, e.Model, e.Profile, ev.Time, seq)
		case *events.ConversationArchived:
			q.Queue(`UPDATE conversations SET archived = true, updated_at = $2, seq = $3 WHERE id = $1 AND seq < $3`,
				e.ConversationID, ev.Time, seq)
		case *events.RunRequested:
			if e.ConversationID != "" {
				q.Queue(`INSERT INTO run_conversations (run_id, conversation_id, seq) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING`,
					e.RunID, e.ConversationID, seq)
			}
		case *events.RunSemantic:
			if e.Kind == events.SemanticSession && e.SessionID != "" {
				q.Queue(`UPDATE conversations c SET provider_session_id = $2, seq = $3
FROM run_conversations r WHERE r.run_id = $1 AND c.id = r.conversation_id AND c.seq < $3`, e.RunID, e.SessionID, seq)
			}
		case *events.ConversationMessageSent:
			q.Queue(`INSERT INTO conversation_runs (conversation_id, run_id, position, text, created_at, seq)
SELECT $1, $2, COALESCE((SELECT max(position) FROM conversation_runs WHERE conversation_id = $1), 0) + 1, $3, $4, $5
ON CONFLICT (conversation_id, run_id) DO NOTHING`, e.ConversationID, e.RunID, e.Text, ev.Time, seq)
			q.Queue(`UPDATE conversations SET message_count = (SELECT count(*) FROM conversation_runs WHERE conversation_id = $1),
last_run_id = $2, updated_at = $3, seq = $4 WHERE id = $1 AND seq < $4`, e.ConversationID, e.RunID, ev.Time, seq)
		}
	}
	if q.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, &q).Close(); err != nil {
		return fmt.Errorf("could not write conversations: %w", err)
	}
	return nil
}
