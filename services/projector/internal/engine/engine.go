// Package engine runs projections: for each one a durable JetStream consumer
// projector-<name> on PHANTOM_EVENTS, batches of events applied in one
// Postgres transaction together with the projection's checkpoint, the ack
// after the commit, and the rebuild from sequence 1.
//
// Correctness rests on the checkpoint in Postgres, not on the consumer's
// state:
//   - The consumer is (re)created at checkpoint+1 whenever a worker starts
//     and whenever anything looks off, so deliveries owed to a crashed
//     predecessor never linger.
//   - Every delivery is checked to be the next one of the consumer (its
//     consumer sequence), so a message lost on the way (a reconnect, a
//     concurrent puller) is noticed before anything after it is applied: the
//     applied prefix is committed and the consumer repositioned.
//   - A message at or below the checkpoint (a redelivery) is skipped.
//   - The transaction starts by moving the checkpoint from the value the
//     worker last saw to the batch's last sequence (a compare-and-set); if
//     anyone else moved it (a rebuild, another instance), the batch is dropped
//     and the worker repositions.
//
// So an event is applied exactly once in stream order, whatever crashes,
// redeliveries, rebuilds or reconnects happen in between.
//
// The consumer is made here rather than with bus.EnsureConsumer: it acks
// with AckAll (a batch is acknowledged by its last message) and is recreated
// at a start sequence, neither of which EnsureConsumer offers. Messages that
// do not decode are not terminated (msg.Term) but recorded in
// projection_errors and acknowledged with their batch.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/streams"
)

// Options tune the engine. Zero values take the defaults.
type Options struct {
	// Batch is the most messages applied in one transaction (default 1000).
	Batch int
	// MaxWait closes a batch this long after its first message (default 50ms).
	MaxWait time.Duration
	// Linger closes a batch when no message arrived for this long (default
	// 2ms): when the stream is idle an event is applied at once, when it has
	// a backlog batches fill up.
	Linger time.Duration
	// Pull is how long one pull request waits on the server for messages
	// (default 5s); it bounds nothing a user sees.
	Pull time.Duration
	// AckWait is the consumer's redelivery timeout (default 2m). Redeliveries
	// are skipped, so it only saves work.
	AckWait time.Duration
	// TxTimeout bounds one transaction (default 1m).
	TxTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between failed attempts
	// (defaults 100ms and 5s).
	RetryMin, RetryMax time.Duration
	// SynchronousCommit makes each batch's commit wait for its WAL flush.
	// Off (the default), a Postgres crash may undo the last moments of
	// commits, rows and checkpoint together, and the projector re-applies
	// them from the recovered checkpoint: the consumer is always positioned
	// from the checkpoint in Postgres, never from JetStream's acks, so
	// nothing is lost or repeated.
	SynchronousCommit bool
}

func (o Options) withDefaults() Options {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 50 * time.Millisecond
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Millisecond
	}
	if o.Linger > o.MaxWait {
		o.Linger = o.MaxWait
	}
	if o.Pull <= 0 {
		o.Pull = 5 * time.Second
	}
	if o.AckWait <= 0 {
		o.AckWait = 2 * time.Minute
	}
	if o.TxTimeout <= 0 {
		o.TxTimeout = time.Minute
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(5*time.Second, o.RetryMin)
	}
	return o
}

// Engine holds what every projection's worker shares.
type Engine struct {
	db  *pgxpool.Pool
	js  jetstream.JetStream
	log *slog.Logger
	m   *Metrics
	o   Options
	// afterCommit, when set (by tests), runs between a commit and its ack;
	// false stops the worker there, as a crash would.
	afterCommit func(lastSeq uint64) bool
}

// New returns an engine over db and js.
func New(db *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, m *Metrics, o Options) *Engine {
	return &Engine{db: db, js: js, log: log, m: m, o: o.withDefaults()}
}

// ConsumerName is the durable consumer of a projection.
func ConsumerName(p Projection) string { return "projector-" + p.Name() }

// consumerConfig positions the consumer at start (0: the beginning).
func (e *Engine) consumerConfig(p Projection, start uint64) jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:     ConsumerName(p),
		Description: "Phantom projector: the " + p.Name() + " projection (its position is the checkpoint in Postgres)",
		// Batches are applied in order and acknowledged once, by their last message.
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       e.o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4 * e.o.Batch,
		MaxWaiting:    8,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if start > 1 {
		cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
		cfg.OptStartSeq = start
	}
	if subs := p.Subjects(); len(subs) == 1 {
		cfg.FilterSubject = subs[0]
	} else {
		cfg.FilterSubjects = subs
	}
	return cfg
}

// position deletes the projection's consumer and creates it afresh at start.
func (e *Engine) position(ctx context.Context, p Projection, start uint64) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	name := ConsumerName(p)
	if err := e.js.DeleteConsumer(ctx, streams.Events, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("could not delete consumer %s: %w", name, err)
	}
	c, err := e.js.CreateConsumer(ctx, streams.Events, e.consumerConfig(p, start))
	if err != nil {
		return nil, fmt.Errorf("could not create consumer %s at sequence %d: %w", name, start, err)
	}
	return c, nil
}

// Checkpoint returns the last sequence applied to a projection (0: none).
func (e *Engine) Checkpoint(ctx context.Context, name string) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var seq int64
	err := e.db.QueryRow(ctx, `SELECT last_seq FROM projection_checkpoints WHERE projection = $1`, name).Scan(&seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("could not read the checkpoint of %s: %w", name, err)
	}
	return uint64(seq), nil
}

// Reset empties a projection (its tables, checkpoint and recorded errors, in
// one transaction) and recreates its consumer at sequence 1. A worker running
// anywhere notices at its next batch and replays from the start.
func (e *Engine) Reset(ctx context.Context, p Projection) error {
	tctx, cancel := context.WithTimeout(ctx, e.o.TxTimeout)
	defer cancel()
	err := pgx.BeginFunc(tctx, e.db, func(tx pgx.Tx) error {
		// The checkpoint row first: a worker's transaction takes it first too,
		// so the two queue up instead of deadlocking on the tables.
		if _, err := tx.Exec(tctx, `DELETE FROM projection_checkpoints WHERE projection = $1`, p.Name()); err != nil {
			return fmt.Errorf("could not delete the checkpoint: %w", err)
		}
		tables := make([]string, 0, len(p.Tables()))
		for _, t := range p.Tables() {
			tables = append(tables, pgx.Identifier{t}.Sanitize())
		}
		if len(tables) > 0 {
			if _, err := tx.Exec(tctx, `TRUNCATE `+joinComma(tables)); err != nil {
				return fmt.Errorf("could not truncate %v: %w", p.Tables(), err)
			}
		}
		if _, err := tx.Exec(tctx, `DELETE FROM projection_errors WHERE projection = $1`, p.Name()); err != nil {
			return fmt.Errorf("could not delete the recorded errors: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("could not reset projection %s: %w", p.Name(), err)
	}
	if _, err := e.position(ctx, p, 1); err != nil {
		return fmt.Errorf("could not reset projection %s: %w", p.Name(), err)
	}
	e.log.Info("projection reset; it replays from sequence 1", "projection", p.Name())
	return nil
}

func joinComma(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ", "
		}
		out += v
	}
	return out
}
