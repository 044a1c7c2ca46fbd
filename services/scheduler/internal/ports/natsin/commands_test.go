package natsin_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/ports/natsin"
)

// scriptedConsumer answers each Next with the next error of its script,
// then ends the consumer loop.
type scriptedConsumer struct {
	jetstream.Consumer
	errs []error
	stop context.CancelFunc
	mu   sync.Mutex
	n    int
}

func (c *scriptedConsumer) Next(...jetstream.FetchOpt) (jetstream.Msg, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == len(c.errs) {
		c.stop()
		return nil, context.Canceled
	}
	c.n++
	return nil, c.errs[c.n-1]
}

type noCommands struct{}

func (noCommands) Handle(context.Context, []command.Command) []error { panic("no command was pulled") }

// warnings counts the log records at WARN or above.
type warnings struct {
	mu sync.Mutex
	n  int
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		w.n++
	}
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func consume(t *testing.T, errs ...error) (int, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var w warnings
	start := time.Now()
	require.NoError(t, natsin.ConsumeCommands(ctx, &scriptedConsumer{errs: errs, stop: cancel}, noCommands{}, time.Second, slog.New(&w)))
	return w.n, time.Since(start)
}

func TestAnIdleCommandQueueIsNotAWarning(t *testing.T) {
	t.Parallel()
	// A pull that expired on the server finds nothing, as does one whose own
	// deadline passed: the consumer pulls again at once and says nothing.
	idle := []error{nats.ErrTimeout, fmt.Errorf("fetch: %w", nats.ErrTimeout), context.DeadlineExceeded, jetstream.ErrNoMessages}
	n, took := consume(t, append(append([]error{}, idle...), idle...)...)
	require.Zero(t, n, "an idle queue logs no warning")
	require.Less(t, took, time.Second, "an idle pull is followed by the next one without a backoff")
}

func TestAFailedPullIsAWarningAndBacksOff(t *testing.T) {
	t.Parallel()
	n, took := consume(t, errors.New("connection closed"), jetstream.ErrConsumerDeleted)
	require.Equal(t, 2, n)
	require.GreaterOrEqual(t, took, 300*time.Millisecond, "100ms then 200ms of backoff")
}
