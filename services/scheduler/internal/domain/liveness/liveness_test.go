package liveness_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/scheduler/internal/domain/liveness"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ids(rs []liveness.Runner) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestARunnerIsLostAfterThreeMissedHeartbeats(t *testing.T) {
	t.Parallel()
	tr := liveness.New(t0, 3*time.Second)
	tr.Seen("w1", t0, time.Second)
	tr.Seen("w2", t0, 0) // the default
	require.Empty(t, tr.Lost(t0.Add(3*time.Second), nil))
	require.Equal(t, t0.Add(3*time.Second), tr.Next(t0))
	require.Equal(t, []string{"w1"}, ids(tr.Lost(t0.Add(3*time.Second+1), nil)))
	require.Empty(t, tr.Lost(t0.Add(4*time.Second), nil), "reported once")
	require.Equal(t, []string{"w2"}, ids(tr.Lost(t0.Add(10*time.Second), nil)))

	// w1 comes back: live again, and lost again if it stops again.
	tr.Seen("w1", t0.Add(20*time.Second), time.Second)
	require.Empty(t, tr.Lost(t0.Add(21*time.Second), nil))
	require.Equal(t, []string{"w1"}, ids(tr.Lost(t0.Add(24*time.Second), nil)))

	// A heartbeat older than the last one seen does not move it back.
	tr.Seen("w3", t0.Add(30*time.Second), time.Second)
	tr.Seen("w3", t0.Add(10*time.Second), time.Second)
	require.Empty(t, tr.Lost(t0.Add(32*time.Second), nil))
}

func TestAGoneRunnerIsNotLostButAnUnseenHolderIs(t *testing.T) {
	t.Parallel()
	tr := liveness.New(t0, time.Second)
	tr.Seen("drained", t0, time.Second)
	tr.Gone("drained")
	require.Empty(t, tr.Lost(t0.Add(time.Hour), nil))
	// A runner holding attempts that the bucket never showed (its entry
	// expired while no scheduler watched) is judged from the start.
	require.Empty(t, tr.Lost(t0.Add(3*time.Second), []string{"ghost"}))
	require.Equal(t, []string{"ghost"}, ids(tr.Lost(t0.Add(3*time.Second+1), []string{"ghost"})))
	require.Len(t, tr.Runners(), 1)
}
