package engine

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/phantom-run/phantom/pkg/daemon"
)

// ErrLockLost: the connection holding the projections' locks failed, so
// another instance may take over; the holder must stop its workers.
var ErrLockLost = errors.New("lost the projector lock")

// Lock is a set of Postgres session advisory locks, one per projection, held
// on a connection of its own: the holder is the one active instance for
// those projections, others stand by. Correctness does not depend on it (the
// checkpoint's compare-and-set does), it keeps two instances from taking
// turns at every batch.
type Lock struct {
	conn *pgx.Conn
}

// LockKey is the advisory lock key of a projection.
func LockKey(projection string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("phantom/projector/" + projection))
	return int64(h.Sum64())
}

// TryLock takes the locks of every projection named, or none: it returns nil
// when another instance holds one of them.
func TryLock(ctx context.Context, db *pgxpool.Pool, projections []string) (*Lock, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pc, err := db.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("could not get a connection for the projector lock: %w", err)
	}
	// The connection leaves the pool: the session is the lock.
	conn := pc.Hijack()
	for _, p := range projections {
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, LockKey(p)).Scan(&ok); err != nil {
			_ = conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("could not take the lock of projection %s: %w", p, err)
		}
		if !ok {
			_ = conn.Close(context.WithoutCancel(ctx))
			return nil, nil
		}
	}
	return &Lock{conn: conn}, nil
}

// Hold checks the lock's connection every interval until ctx ends (nil) or
// the connection fails (ErrLockLost).
func (l *Lock) Hold(ctx context.Context, interval time.Duration) error {
	return daemon.Every(ctx, interval, func(ctx context.Context) error {
		pctx, cancel := context.WithTimeout(ctx, max(interval, time.Second))
		err := l.conn.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("%w: %w", ErrLockLost, err)
		}
		return nil
	})
}

// Release ends the session, which releases every lock.
func (l *Lock) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = l.conn.Close(ctx)
}
