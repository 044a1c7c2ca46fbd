package daemon_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/daemon"
)

func TestEveryRunsUntilTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	done := make(chan error, 1)
	go func() {
		done <- daemon.Every(ctx, time.Millisecond, func(context.Context) error {
			if calls.Add(1) == 3 {
				cancel()
			}
			return nil
		})
	}()
	select {
	case err := <-done:
		require.NoError(t, err, "the context's end is not a failure")
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return when its context ended")
	}
	require.GreaterOrEqual(t, calls.Load(), int64(3))
}

func TestEveryStopsAtTheFirstError(t *testing.T) {
	t.Parallel()
	boom := errors.New("lost")
	var calls atomic.Int64
	err := daemon.Every(context.Background(), time.Millisecond, func(context.Context) error {
		if calls.Add(1) == 2 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, int64(2), calls.Load())
}

func TestEveryWaitsOneIntervalFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	called := false
	require.NoError(t, daemon.Every(ctx, time.Hour, func(context.Context) error { called = true; return nil }))
	require.False(t, called)
}
