package engine

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/phantom-run/phantom/pkg/bus"
)

// Projection is what the engine runs: a named fold of some event subjects
// into Postgres tables that it alone writes. The engine feeds it its events
// in stream order, in batches, each batch in one transaction with the
// projection's checkpoint. Phantom's projections are internal/projections.
type Projection interface {
	// Name is the projection's name in projection_checkpoints and in its
	// durable consumer projector-<name>: a subject token, stable forever.
	Name() string
	// Subjects are the event subjects it reads from PHANTOM_EVENTS, e.g.
	// phantom.events.run.>.
	Subjects() []string
	// Tables are the tables it alone writes; a rebuild truncates them.
	Tables() []string
	// Apply writes the effect of batch within tx. The batch is in stream
	// order, every event has a known type (Payload set), a sequence above the
	// checkpoint and a Time (its ce-time, else the time the stream stored it).
	// Apply must derive every column from the events (never now()), so that a
	// replay into empty tables gives the same rows. An error that one event
	// causes (bad data) should wrap ErrBadEvent; the engine then applies the
	// batch event by event and skips, recording in projection_errors, the
	// events that fail. Any other error is retried.
	Apply(ctx context.Context, tx pgx.Tx, batch []bus.Event) error
}

// ErrBadEvent marks an error caused by the data of one event: retrying the
// same event would fail the same way.
var ErrBadEvent = errors.New("event cannot be projected")
