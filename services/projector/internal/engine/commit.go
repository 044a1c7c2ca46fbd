package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/phantom-run/phantom/pkg/bus"
)

// errCheckpointMoved: the checkpoint is not where this worker left it.
var errCheckpointMoved = errors.New("the checkpoint moved under the worker")

const (
	// The checkpoint moves only from the value the worker saw; taking its
	// row first also queues concurrent writers of the projection (and Reset)
	// before they touch its tables.
	advanceSQL = `UPDATE projection_checkpoints SET last_seq = $2, updated_at = $3
WHERE projection = $1 AND last_seq = $4`
	// The first checkpoint of a projection: inserted, unless one exists.
	firstSQL = `INSERT INTO projection_checkpoints (projection, last_seq, updated_at) VALUES ($1, $2, $3)
ON CONFLICT (projection) DO NOTHING`
	recordSQL = `INSERT INTO projection_errors (projection, seq, event_id, type, subject, error, time)
VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (projection, seq) DO NOTHING`
)

// commit applies b in one transaction with the checkpoint. oneByOne applies
// each event under its own savepoint and skips (recording them) those whose
// data is refused; it returns how many it skipped.
func (w *Worker) commit(ctx context.Context, b *batch, oneByOne bool) (refused int, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.e.o.TxTimeout)
	defer cancel()
	tx, err := w.e.db.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("could not begin a transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	name := w.p.Name()
	// One round trip: the session settings, then the checkpoint.
	var q pgx.Batch
	// A projection's tables grow from empty (a rebuild starts with a
	// TRUNCATE): a generic plan cached while a table was empty (a sequential
	// scan) would stay with it at millions of rows. Plan every statement for
	// its parameters and the table as it is.
	q.Queue(`SET LOCAL plan_cache_mode = force_custom_plan`)
	if !w.e.o.SynchronousCommit {
		q.Queue(`SET LOCAL synchronous_commit = off`)
	}
	if w.applied == 0 {
		q.Queue(firstSQL, name, int64(b.lastSeq), b.lastTime)
	} else {
		q.Queue(advanceSQL, name, int64(b.lastSeq), b.lastTime, int64(w.applied))
	}
	res := tx.SendBatch(ctx, &q)
	var tag pgconn.CommandTag
	for range q.Len() {
		if tag, err = res.Exec(); err != nil {
			break
		}
	}
	if cerr := res.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, fmt.Errorf("could not advance the checkpoint: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return 0, fmt.Errorf("%w: it is no longer %d", errCheckpointMoved, w.applied)
	}
	for _, bad := range b.bad {
		if err := record(ctx, tx, name, bad); err != nil {
			return 0, err
		}
	}
	if !oneByOne {
		if len(b.events) > 0 {
			if err := w.p.Apply(ctx, tx, b.events); err != nil {
				return 0, fmt.Errorf("could not apply events %d-%d: %w", b.events[0].Seq, b.events[len(b.events)-1].Seq, err)
			}
		}
	} else {
		for _, ev := range b.events {
			err := applyOne(ctx, tx, w.p, ev)
			if err == nil {
				continue
			}
			if !refusedByData(err) {
				return 0, err
			}
			refused++
			w.e.m.skipped.WithLabelValues(name, SkipRefused).Inc()
			w.log.Error("skipping an event the projection refuses", "seq", ev.Seq, "id", ev.ID, "type", ev.Type, "error", err)
			bad := badEvent{seq: ev.Seq, id: ev.ID, typ: ev.Type, subject: ev.NATSSubject, why: err.Error(), time: ev.Time}
			if err := record(ctx, tx, name, bad); err != nil {
				return 0, err
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("could not commit events up to %d: %w", b.lastSeq, err)
	}
	return refused, nil
}

func applyOne(ctx context.Context, tx pgx.Tx, p Projection, ev bus.Event) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return fmt.Errorf("could not open a savepoint: %w", err)
	}
	if err := p.Apply(ctx, sp, []bus.Event{ev}); err != nil {
		if rerr := sp.Rollback(ctx); rerr != nil {
			return fmt.Errorf("could not roll back event %d: %w", ev.Seq, rerr)
		}
		return fmt.Errorf("could not apply event %d: %w", ev.Seq, err)
	}
	if err := sp.Commit(ctx); err != nil {
		return fmt.Errorf("could not release the savepoint of event %d: %w", ev.Seq, err)
	}
	return nil
}

func record(ctx context.Context, tx pgx.Tx, projection string, bad badEvent) error {
	if _, err := tx.Exec(ctx, recordSQL, projection, int64(bad.seq), nullable(cleanText(bad.id)), nullable(cleanText(bad.typ)),
		cleanText(bad.subject), cleanText(bad.why), bad.time); err != nil {
		return fmt.Errorf("could not record skipped event %d: %w", bad.seq, err)
	}
	return nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// refusedByData reports whether err comes from the data of an event, so that
// applying the same event again fails again: the projection says so
// (ErrBadEvent), or Postgres refused a value (data exception,
// integrity constraint, program limit such as a value too large). Anything
// else (connections, locks, a missing table) is worth retrying.
func refusedByData(err error) bool {
	if errors.Is(err, ErrBadEvent) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && len(pgErr.Code) == 5 {
		switch pgErr.Code[:2] {
		case "22", "23", "54":
			return true
		}
	}
	return false
}
