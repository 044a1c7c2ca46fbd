package command

import (
	"context"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
)

// session tells the run's conversation (if it has one) about the provider
// session, so that its next message resumes it.
//
// The runner appends conversation.session_updated, not the gateway that
// owns conversations: the runner is the one that learns the session id, as
// the agent prints it, once per attempt that opened or resumed it (a resume
// that failed and started afresh reports the new one); the gateway would
// have to tail the event log to learn it, and the projector only writes
// Postgres.
func (s *semantics) session(id string) {
	x := s.x
	d := x.a.d
	if id == "" || s.sessions[id] {
		return
	}
	s.sessions[id] = true
	conv := d.ConversationID
	if conv == "" {
		ctx, cancel := context.WithTimeout(x.ctx, 5*time.Second)
		defer cancel()
		var err error
		if conv, err = x.ports.History.ConversationOf(ctx, d.RunID); err != nil {
			x.log.Warn("could not look up the run's conversation", "error", err)
			return
		}
	}
	if conv == "" {
		return
	}
	x.appendAsync(events.ConversationSessionUpdated{ConversationID: conv, ProviderSessionID: id, RunID: d.RunID})
}
