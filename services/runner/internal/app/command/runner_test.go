package command

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
)

// These tests cover the runner's bookkeeping around deliveries, with the
// outside world (worktrees, event log, deliveries) recorded in memory; the
// service tests run the same code against NATS, git and real processes.

type delivery struct {
	mu                 sync.Mutex
	acks, naks, delays int
	redelivered        bool
}

func (d *delivery) Ack() error { d.mu.Lock(); defer d.mu.Unlock(); d.acks++; return nil }
func (d *delivery) Nak() error { d.mu.Lock(); defer d.mu.Unlock(); d.naks++; return nil }
func (d *delivery) NakWithDelay(time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delays++
	return nil
}
func (d *delivery) InProgress() error { return nil }
func (d *delivery) Redelivered() bool { return d.redelivered }
func (d *delivery) counts() (int, int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acks, d.naks, d.delays
}

type history struct{ seen bool }

func (h history) AttemptSeen(context.Context, string, int) (bool, error) { return h.seen, nil }
func (h history) PreviousSession(context.Context, string, int, string) (string, error) {
	return "", nil
}
func (h history) ConversationOf(context.Context, string) (string, error) { return "", nil }

type noCaps struct{}

func (noCaps) Get(string) (events.AgentCapability, bool) { return events.AgentCapability{}, false }

// worktrees answers not_granted, after release is closed when it is set.
type worktrees struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (w *worktrees) Prepare(ctx context.Context, _ rpc.WorktreePrepareRequest) (rpc.WorktreePrepareReply, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	if w.release != nil {
		select {
		case <-w.release:
		case <-ctx.Done():
			return rpc.WorktreePrepareReply{}, ctx.Err()
		}
	}
	return rpc.WorktreePrepareReply{Code: "not_granted", Error: "no"}, nil
}

type recorder struct {
	mu  sync.Mutex
	evs []events.Payload
}

func (r *recorder) Append(_ context.Context, ev events.Payload, _ ...bus.MsgOption) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}
func (r *recorder) AppendSync(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	return r.Append(ctx, ev, opts...)
}
func (r *recorder) Close() error { return nil }
func (r *recorder) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.evs {
		out = append(out, ev.EventType())
	}
	return out
}

func newTestRunner(t *testing.T, w Worktrees, h History, rec *recorder) *Runner {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	defs, err := agents.Load("agents.toml", nil)
	require.NoError(t, err)
	cfg := Config{RunnerID: "r1", Host: "h", Slots: 2, ChunkBytes: 1024, MaxLineBytes: 1024, ChunkInterval: time.Millisecond,
		KillGrace: time.Second, PrepareTimeout: 5 * time.Second, ProgressEvery: time.Second, Agents: defs}
	return NewRunner(context.Background(), cfg, testenv.Logger(t), w, h, noCaps{}, func(context.Context) (Appender, error) { return rec, nil }, m)
}

func dispatch(attempt int) commands.Dispatch {
	return commands.Dispatch{RunID: "run1", Attempt: attempt, Spec: runs.Spec{Agent: "fake", Workspace: "/w"}}
}

func TestRedeliveryOfAnAttemptAlreadySeenIsDropped(t *testing.T) {
	t.Parallel()
	w, rec := &worktrees{}, &recorder{}
	r := newTestRunner(t, w, history{seen: true}, rec)
	del := &delivery{redelivered: true}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	r.Wait()
	acks, naks, _ := del.counts()
	require.Equal(t, 1, acks)
	require.Zero(t, naks)
	require.Zero(t, w.calls, "nothing is prepared for an attempt that ran elsewhere")
	require.Empty(t, rec.types())
	require.Len(t, r.slots, 0, "the slot is free again")
}

func TestRedeliveryOfAnUnseenAttemptRuns(t *testing.T) {
	t.Parallel()
	w, rec := &worktrees{}, &recorder{}
	r := newTestRunner(t, w, history{}, rec)
	del := &delivery{redelivered: true}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	r.Wait()
	require.Equal(t, 1, w.calls)
	require.Equal(t, []string{"run.failed"}, rec.types())
	require.Equal(t, runs.ReasonWorkspaceNotGranted, rec.evs[0].(events.RunFailed).Reason)
	acks, _, _ := del.counts()
	require.Equal(t, 1, acks)
}

func TestASecondDispatchOfAHeldRun(t *testing.T) {
	t.Parallel()
	w, rec := &worktrees{release: make(chan struct{})}, &recorder{}
	r := newTestRunner(t, w, history{}, rec)
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
	r.Wait()
	require.Len(t, r.slots, 0)
}

func TestCancelWhilePreparingRecordsACancel(t *testing.T) {
	t.Parallel()
	w, rec := &worktrees{release: make(chan struct{})}, &recorder{}
	r := newTestRunner(t, w, history{}, rec)
	del := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.calls == 1 }, 5*time.Second, time.Millisecond)
	require.False(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 2}), "another attempt's cancel is ignored")
	require.True(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 1, By: "me"}))
	r.Wait()
	require.Equal(t, []string{"run.canceled"}, rec.types())
	require.Equal(t, events.RunCanceled{RunID: "run1", Attempt: 1, Reason: runs.ReasonCanceled, By: "me"}, rec.evs[0])
}

func TestDrainHandsBackAnAttemptStillPreparing(t *testing.T) {
	t.Parallel()
	w, rec := &worktrees{release: make(chan struct{})}, &recorder{}
	r := newTestRunner(t, w, history{}, rec)
	del := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), dispatch(1), del)
	require.Eventually(t, func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.calls == 1 }, 5*time.Second, time.Millisecond)
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
