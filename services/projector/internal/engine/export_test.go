package engine

import (
	"context"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// SetAfterCommit sets the hook that runs between a commit and its ack (a
// crash there, when it returns false), for the tests of engine_test.
func SetAfterCommit(e *Engine, f func(lastSeq uint64) bool) { e.afterCommit = f }

// Skipped counts the events of projection skipped for reason.
func (m *Metrics) Skipped(projection, reason string) float64 {
	return testutil.ToFloat64(m.skipped.WithLabelValues(projection, reason))
}

// Applied counts the events projection applied.
func (m *Metrics) Applied(projection string) float64 {
	return testutil.ToFloat64(m.applied.WithLabelValues(projection))
}

// ApplyErrors counts the failed attempts to apply a batch of projection.
func (m *Metrics) ApplyErrors(projection string) float64 {
	return testutil.ToFloat64(m.errors.WithLabelValues(projection))
}

// Positions counts the times projection's consumer was positioned for reason.
func (m *Metrics) Positions(projection, reason string) float64 {
	return testutil.ToFloat64(m.resets.WithLabelValues(projection, reason))
}

// VerifyFirst checks that the first delivery after positioning at after+1
// is seq (nothing of the worker's subjects between), ErrReposition if not.
func (w *Worker) VerifyFirst(ctx context.Context, after, seq uint64) error {
	return w.verifyFirst(ctx, after, seq)
}

// ErrReposition is what a delivery that calls for repositioning wraps.
var ErrReposition = errReposition
