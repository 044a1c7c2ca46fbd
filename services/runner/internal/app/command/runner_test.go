package command

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
)

// These tests cover the runner's bookkeeping around deliveries (see
// bundle_test.go for the fakes of its ports).

// notGranted makes the worktree service refuse the workspace, after
// release is closed when it is set.
func notGranted(b *bundle, release chan struct{}) {
	b.worktrees.reply = rpc.WorktreePrepareReply{Code: rpc.WorktreeCodeNotGranted, Error: "no"}
	b.worktrees.release = release
}

func TestRedeliveryOfAnAttemptAlreadySeenIsDropped(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	notGranted(b, nil)
	b.history.seen = true
	w, rec := b.worktrees, b.events
	del := &delivery{redelivered: true}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	ended(t, r)
	acks, naks, _ := del.counts()
	require.Equal(t, 1, acks)
	require.Zero(t, naks)
	require.Zero(t, w.called(), "nothing is prepared for an attempt that ran elsewhere")
	require.Empty(t, rec.types())
	require.Len(t, r.slots, 0, "the slot is free again")
}

func TestRedeliveryOfAnUnseenAttemptRuns(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	notGranted(b, nil)
	w, rec := b.worktrees, b.events
	del := &delivery{redelivered: true}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	ended(t, r)
	require.Equal(t, 1, w.called())
	require.Equal(t, []string{"run.failed"}, rec.types())
	require.Equal(t, runs.ReasonWorkspaceNotGranted, rec.evs[0].(events.RunFailed).Reason)
	acks, _, _ := del.counts()
	require.Equal(t, 1, acks)
}

func TestASecondDispatchOfAHeldRun(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	notGranted(b, make(chan struct{}))
	w := b.worktrees
	first := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), first)
	require.Eventually(t, func() bool { return len(r.Running()) == 1 }, 5*time.Second, time.Millisecond)

	same, next := &delivery{}, &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), same)
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(2), next)
	acks, _, _ := same.counts()
	require.Equal(t, 1, acks, "the same attempt again is dropped")
	_, naks, delays := next.counts()
	require.Equal(t, 0, naks)
	require.Equal(t, 1, delays, "another attempt is handed back for later")
	require.Len(t, r.slots, 1, "only the held attempt keeps a slot")

	close(w.release)
	ended(t, r)
	require.Len(t, r.slots, 0)
}

func TestCancelWhilePreparingRecordsACancel(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	notGranted(b, make(chan struct{}))
	w, rec := b.worktrees, b.events
	del := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	require.Eventually(t, func() bool { return w.called() == 1 }, 5*time.Second, time.Millisecond)
	require.False(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 2}), "another attempt's cancel is ignored")
	require.True(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 1, By: "me"}))
	ended(t, r)
	require.Equal(t, []string{"run.canceled"}, rec.types())
	require.Equal(t, events.RunCanceled{RunID: "run1", Attempt: 1, Reason: runs.ReasonCanceled, By: "me"}, rec.evs[0])
}

func TestDrainHandsBackAnAttemptStillPreparing(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	notGranted(b, make(chan struct{}))
	w, rec := b.worktrees, b.events
	del := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	require.Eventually(t, func() bool { return w.called() == 1 }, 5*time.Second, time.Millisecond)
	require.Equal(t, []string{"run1"}, r.Drain(10*time.Millisecond))
	_, naks, _ := del.counts()
	require.Equal(t, 1, naks, "handed back to the pool untouched")
	require.Empty(t, rec.types())
	late := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), commands.Dispatch{RunID: "run2", Attempt: 1}, late)
	_, naks, _ = late.counts()
	require.Equal(t, 1, naks, "a draining runner takes nothing new")
}

// warnings counts the records at WARN and above.
type warnings struct {
	mu sync.Mutex
	n  int
}

func (w *warnings) Enabled(context.Context, slog.Level) bool { return true }
func (w *warnings) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		w.mu.Lock()
		w.n++
		w.mu.Unlock()
	}
	return nil
}
func (w *warnings) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *warnings) WithGroup(string) slog.Handler      { return w }

func (w *warnings) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// A runner with nothing to drain stops at once and says nothing alarming,
// whatever the drain timeout (0 included).
func TestDrainingAnIdleRunnerWarnsNothing(t *testing.T) {
	t.Parallel()
	for range 20 {
		r, _ := setup(t)
		w := &warnings{}
		r.log = slog.New(w)
		require.Empty(t, r.Drain(0))
		require.Zero(t, w.count())
	}
}
