package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/projector/internal/projection"
)

// Conversations keeps conversations (title, agent, the provider session the
// next message resumes, archived) and conversation_runs (each message and
// the run it started, in order).
type Conversations struct{}

var _ projection.Projection = Conversations{}

// Name implements projection.Projection.
func (Conversations) Name() string { return readmodel.ProjectionConversations }

// Subjects implements projection.Projection.
func (Conversations) Subjects() []string {
	return []string{subjects.EventsRoot + "." + events.AggregateConversation + ".>"}
}

// Tables implements projection.Projection.
func (Conversations) Tables() []string { return []string{"conversation_runs", "conversations"} }

// Apply implements projection.Projection.
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
		case *events.ConversationSessionUpdated:
			q.Queue(`UPDATE conversations SET provider_session_id = $2, seq = $3 WHERE id = $1 AND seq < $3`,
				e.ConversationID, e.ProviderSessionID, seq)
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
