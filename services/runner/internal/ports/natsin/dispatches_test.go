package natsin_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/services/runner/internal/app/command"
	"github.com/phantom-run/phantom/services/runner/internal/ports/natsin"
)

// emptyPool is a dispatch consumer whose fetches find nothing: each Next
// answers with the next error of its script, then ends the pull loop.
type emptyPool struct {
	jetstream.Consumer
	errs   []error
	stop   context.CancelFunc
	mu     sync.Mutex
	called int
}

func (c *emptyPool) Next(...jetstream.FetchOpt) (jetstream.Msg, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.called == len(c.errs) {
		c.stop()
		return nil, context.Canceled
	}
	c.called++
	return nil, c.errs[c.called-1]
}

type freeSlots struct{}

func (freeSlots) AcquireSlot(ctx context.Context) bool { return ctx.Err() == nil }
func (freeSlots) ReleaseSlot()                         {}
func (freeSlots) Start(context.Context, commands.Dispatch, command.Delivery) {
	panic("nothing was dispatched")
}

// levels records the level of every log record.
type levels struct {
	mu  sync.Mutex
	got []slog.Level
}

func (l *levels) Enabled(context.Context, slog.Level) bool { return true }
func (l *levels) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, r.Level)
	return nil
}
func (l *levels) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *levels) WithGroup(string) slog.Handler      { return l }

func (l *levels) warnings() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, lv := range l.got {
		if lv >= slog.LevelWarn {
			n++
		}
	}
	return n
}

// An idle pool is not a problem: a fetch that found nothing (the pull
// request expired: nats.ErrTimeout, or the fetch's own deadline) logs no
// warning and is followed by the next fetch at once; a fetch that failed
// does warn.
func TestAPullThatFindsNothingIsNotAWarning(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		err      error
		warnings int
	}{
		{"pull request expired", nats.ErrTimeout, 0},
		{"fetch deadline", context.DeadlineExceeded, 0},
		{"no messages", jetstream.ErrNoMessages, 0},
		{"connection closed", nats.ErrConnectionClosed, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pool := &emptyPool{errs: []error{tc.err, tc.err, tc.err}, stop: cancel}
			log := &levels{}
			done := make(chan error, 1)
			go func() { done <- natsin.PullDispatches(ctx, pool, freeSlots{}, slog.New(log)) }()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(20 * time.Second):
				t.Fatal("the pull loop did not end")
			}
			require.False(t, errors.Is(ctx.Err(), context.DeadlineExceeded), "the pool's script ended the loop")
			require.Equal(t, 3, pool.called)
			require.Equal(t, tc.warnings, log.warnings())
		})
	}
}
