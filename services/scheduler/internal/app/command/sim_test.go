package command_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// The simulation drives the real Scheduler (queue, retries, holds, runner
// liveness, outbox, replay) against a simulated world on a virtual clock:
// a bus with JetStream's semantics (an ordered log, deduplication of ids
// within two minutes, publishes that fail after a prefix), runners that
// pull dispatch messages, start, finish, fail in every way the scheduler
// must handle, hit quotas, die (stop heartbeating) and come back as zombies
// with late events, users who submit and cancel, and schedulers that crash
// and are rebuilt from the log. Everything is seeded: a failing seed
// reproduces exactly (PHANTOM_SIM_SEED=<n>; PHANTOM_SIM_DUMP=<run,run> logs
// those runs' whole history when it fails).
//
// Afterwards an oracle replays the log, independently of the queue package,
// and checks the invariants: no limit ever exceeded, no attempt dispatched
// twice, no run lost, priorities with aging respected, capacity enforced.

var discard = slog.New(slog.DiscardHandler)

const (
	simHeartbeat = 3 * time.Second
	dupWindow    = 2 * time.Minute
	ackWait      = 30 * time.Second
)

var simLimits = queue.Limits{
	MaxRunning: 6, MaxPerProvider: 2, Capacity: 40,
	Providers:  map[string]int{"codex": 3},
	Workspaces: map[string]int{"/w/b": 1, "/w": 4},
}

var simProfiles = map[string]int{"p1": 1, "p2": 2}

func simPolicy() queue.Policy {
	p := queue.DefaultPolicy()
	p.AgingHorizon = 2 * time.Minute
	p.DefaultHold = 20 * time.Second
	p.MaxHold = 5 * time.Minute
	p.DeadlineGrace = 10 * time.Second
	p.ForgetAfter = 5 * time.Minute
	return p
}

// stored is one message in the simulated log.
type stored struct {
	seq uint64
	msg command.Msg
	at  time.Time
	// late: a publish failure delayed it, so events decided before it may
	// sit between the decision and its place in the log.
	late bool
}

// simBus is JetStream as the scheduler sees it.
type simBus struct {
	w   *world
	log []stored
	// dispatches is the pool's work queue; seen are ids and when stored.
	dispatches []commands.Dispatch
	seen       map[string]time.Time
	// failNext makes the next Publish store a prefix of n and fail.
	failNext int
	// idx is what runners look up in the log, per run.
	idx         map[string]*runIdx
	dispatchedN int
	// publishing: inside Publish (the scheduler holds its lock).
	publishing bool
	// online checks every event as it is recorded; broken is its first finding.
	online *oracle
	broken error
	// shadow is a queue fed by the log alone; failed marks a Publish that
	// left events unstored (the scheduler is then ahead of the log).
	shadow *queue.Queue
	failed bool
	// delayed are ids of messages a failed Publish left unsent.
	delayed map[string]bool
	// conflicts counts conditional appends refused.
	conflicts int
}

// runIdx is a run's trace in the log, for the runners' lookups.
type runIdx struct {
	// seen is the highest attempt started or ended.
	seen int
	// dispatched is the highest attempt dispatched.
	dispatched int
	// schedFailed are the attempts the scheduler failed itself.
	schedFailed map[int]bool
	// last is the sequence of the run's last event.
	last uint64
}

func (b *simBus) record(m command.Msg, at time.Time) {
	e := stored{seq: uint64(len(b.log) + 1), msg: m, at: at, late: b.delayed[m.ID]}
	b.log = append(b.log, e)
	if err := b.online.apply(e); err != nil && b.broken == nil {
		b.broken = err
	}
	b.shadow.Apply(m.Event, at)
	id, ok := events.RunIDOf(m.Event)
	if !ok {
		return
	}
	x := b.idx[id]
	if x == nil {
		x = &runIdx{schedFailed: map[int]bool{}}
		b.idx[id] = x
	}
	x.last = e.seq
	switch ev := m.Event.(type) {
	case *events.RunStarted:
		x.seen = max(x.seen, ev.Attempt)
	case *events.RunCompleted:
		x.seen = max(x.seen, ev.Attempt)
	case *events.RunCanceled:
		x.seen = max(x.seen, ev.Attempt)
	case *events.RunFailed:
		x.seen = max(x.seen, ev.Attempt)
		if m.ID != "" {
			x.schedFailed[ev.Attempt] = true
		}
	case *events.RunDispatched:
		x.dispatched = max(x.dispatched, ev.Attempt)
		b.dispatchedN++
	}
}

func (b *simBus) Publish(_ context.Context, msgs []command.Msg) (int, error) {
	if len(msgs) == 0 {
		return 0, nil
	}
	b.publishing = true
	defer func() { b.publishing = false }()
	cut := len(msgs)
	fail := false
	if b.failNext >= 0 {
		cut, fail = min(b.failNext, len(msgs)-1), true
		b.failNext = -1
	}
	for _, m := range msgs[cut:] {
		b.delayed[m.ID] = true
	}
	for _, m := range msgs[:cut] {
		if at, dup := b.seen[m.ID]; dup && b.w.now.Sub(at) < dupWindow {
			continue
		}
		b.seen[m.ID] = b.w.now
		switch {
		case m.Event != nil:
			b.record(m, m.Time)
		default:
			switch c := m.Command.(type) {
			case commands.Dispatch:
				b.dispatches = append(b.dispatches, c)
			case commands.RunnerCancel:
				b.w.cancelOnRunner(c)
			}
		}
	}
	if fail {
		b.failed = true
		return cut, errors.New("simulated publish failure")
	}
	b.failed = false
	return len(msgs), nil
}

// AppendIf stores m if the run's last event is at cond.Seq (JetStream's
// expected last sequence on the run's wildcard subject).
func (b *simBus) AppendIf(ctx context.Context, m command.Msg, cond command.Condition) error {
	id := m.Event.AggregateID()
	if x := b.idx[id]; x != nil && x.last != cond.Seq {
		b.conflicts++
		return fmt.Errorf("%w: last %d, expected %d", command.ErrConflict, x.last, cond.Seq)
	}
	_, err := b.Publish(ctx, []command.Msg{m})
	return err
}

// appendEvent stores an event from outside the scheduler (a runner's) and
// delivers it at once, so the log's order is the order the scheduler saw
// events in (the oracle judges each decision on what came before it).
func (b *simBus) appendEvent(ev events.Payload, attempt int) {
	b.record(command.Msg{Event: ev, Attempt: attempt, Time: b.w.now}, b.w.now)
	if !b.publishing {
		b.w.tail()
	}
}

type simAttempt struct {
	d       commands.Dispatch
	started bool
	ends    time.Time
}

type simRunner struct {
	id       string
	slots    int
	alive    bool
	zombie   bool
	lastBeat time.Time
	held     map[string]*simAttempt
	// revivesAt schedules the return of a dead runner.
	revivesAt time.Time
}

// inFlight is a dispatch a runner pulled and has not acknowledged.
type inFlight struct {
	d      commands.Dispatch
	runner string
	due    time.Time
}

type command_ struct {
	submit *commands.SubmitRun
	cancel *commands.CancelRun
	due    time.Time
}

type world struct {
	t       *testing.T
	rnd     *rand.Rand
	now     time.Time
	bus     *simBus
	sched   *command.Scheduler
	cursor  int
	runners []*simRunner
	unacked []inFlight
	cmds    []command_
	// submitted are every run id submitted.
	submitted []string
	specs     map[string]runs.Spec
	crashes   int
}

func newWorld(t *testing.T, seed uint64) *world {
	w := &world{t: t, rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC), specs: map[string]runs.Spec{}}
	w.bus = &simBus{w: w, seen: map[string]time.Time{}, failNext: -1, idx: map[string]*runIdx{}, publishing: true, online: newOracle(), shadow: queue.New(simLimits, simPolicy()), delayed: map[string]bool{}}
	for i := range 4 {
		w.runners = append(w.runners, &simRunner{id: fmt.Sprintf("w%d", i), slots: 2 + i%2, alive: true, held: map[string]*simAttempt{}})
	}
	// The profiles' limits are in the log from the start.
	for _, name := range []string{"p1", "p2"} {
		n := simProfiles[name]
		w.bus.appendEvent(&events.ProfileSaved{Name: name, MaxConcurrent: &n}, 0)
	}
	w.bus.publishing = false
	w.rebuild()
	return w
}

// rebuild starts a new scheduler from the log, as a restart or a failover does.
func (w *world) rebuild() {
	s, err := command.New(command.Config{Limits: simLimits, Policy: simPolicy(), ResendWindow: 90 * time.Second,
		Heartbeat: simHeartbeat, Now: func() time.Time { return w.now }}, w.bus, nopMetrics{}, discard)
	require.NoError(w.t, err)
	w.sched = s
	w.cursor = 0
	w.tail()
	// The bucket's entries of live runners, as a fresh watch shows them.
	err = s.Recover(context.Background())
	w.tolerate(err)
	w.beatAll(true)
}

func (w *world) tolerate(err error) {
	switch {
	case err == nil, errors.Is(err, command.ErrCancelPending), errors.Is(err, command.ErrNotLeader):
	case errors.Is(err, command.ErrStateSuspect):
		w.crashes++
		w.rebuild()
	default:
		// A publish failure: the outbox keeps it; the next call retries.
	}
}

// tail delivers the log's new events to the scheduler, in order.
func (w *world) tail() {
	for w.cursor < len(w.bus.log) {
		e := w.bus.log[w.cursor]
		w.cursor++
		w.tolerate(w.sched.OnEvent(context.Background(), command.Event{Seq: e.seq, ID: e.msg.ID, Time: e.at, Payload: e.msg.Event}))
	}
}

func (w *world) beatAll(initial bool) {
	for _, r := range w.runners {
		switch {
		case r.alive && (initial || w.now.Sub(r.lastBeat) >= simHeartbeat):
			if !initial {
				r.lastBeat = w.now
			}
			w.sched.RunnerSeen(r.id, r.lastBeat, simHeartbeat)
		case initial && !r.alive && w.now.Sub(r.lastBeat) < 5*simHeartbeat:
			// Its entry has not expired yet: the watch still shows it.
			w.sched.RunnerSeen(r.id, r.lastBeat, simHeartbeat)
		}
	}
}

func (w *world) randomSpec() runs.Spec {
	providers := []string{"claude", "codex", "gemini"}
	workspaces := []string{"/w/a", "/w/b/x", "/w/b", "/x/y", "/w/c"}
	s := runs.Spec{Agent: providers[w.rnd.IntN(3)], Prompt: "task", Workspace: workspaces[w.rnd.IntN(len(workspaces))]}
	p := w.rnd.IntN(21) - 10
	s.Priority = &p
	if w.rnd.IntN(4) == 0 {
		s.Profile = []string{"p1", "p2", "p3"}[w.rnd.IntN(3)]
	}
	mr := w.rnd.IntN(4)
	s.MaxRetries = &mr
	bo := 100 + w.rnd.IntN(3000)
	s.RetryBackoffMs = &bo
	if w.rnd.IntN(5) == 0 {
		to := 30 + w.rnd.IntN(60)
		s.TimeoutSeconds = &to
		yes := w.rnd.IntN(2) == 0
		s.RetryOnTimeout = &yes
	}
	if w.rnd.IntN(50) == 0 {
		bad := 42
		s.Priority = &bad // rejected as invalid
	}
	return s
}

// step advances the world by one random slice of virtual time.
func (w *world) step(submitting bool) {
	w.now = w.now.Add(time.Duration(w.rnd.IntN(400)) * time.Millisecond)
	if submitting && w.rnd.IntN(7) == 0 {
		id := fmt.Sprintf("r%05d", len(w.submitted))
		s := w.randomSpec()
		w.submitted = append(w.submitted, id)
		w.specs[id] = s
		w.cmds = append(w.cmds, command_{submit: &commands.SubmitRun{RunID: id, Spec: s}, due: w.now})
	}
	if submitting && len(w.submitted) > 0 && w.rnd.IntN(40) == 0 {
		id := w.submitted[w.rnd.IntN(len(w.submitted))]
		w.cmds = append(w.cmds, command_{cancel: &commands.CancelRun{RunID: id, By: "user"}, due: w.now})
	}
	if w.rnd.IntN(60) == 0 {
		w.bus.failNext = w.rnd.IntN(3)
	}
	w.runnersAct(submitting)
	w.deliverCommands()
	w.tail()
	w.beatAll(false)
	w.tolerate(w.sched.Tick(context.Background()))
	w.tail()
	if submitting && w.rnd.IntN(1500) == 0 {
		w.crashes++
		w.rebuild()
	}
}

func (w *world) deliverCommands() {
	var keep []command_
	for _, c := range w.cmds {
		if c.due.After(w.now) {
			keep = append(keep, c)
			continue
		}
		var err error
		if c.submit != nil {
			err = w.sched.Submit(context.Background(), *c.submit)
		} else {
			err = w.sched.Cancel(context.Background(), *c.cancel)
		}
		w.tail()
		if err != nil {
			// Nacked: delivered again after the subscriber's delay.
			c.due = w.now.Add(time.Second)
			keep = append(keep, c)
			w.tolerate(err)
		}
	}
	w.cmds = keep
}

// attemptSeen is the runner's check of a redelivered dispatch.
func (w *world) attemptSeen(runID string, attempt int) bool {
	x := w.bus.idx[runID]
	return x != nil && x.seen >= attempt
}

// fenced is the runner's fencing check: another attempt was dispatched, or
// the scheduler ended this one.
func (w *world) fenced(runID string, attempt int) bool {
	x := w.bus.idx[runID]
	return x != nil && (x.dispatched > attempt || x.schedFailed[attempt])
}

func (w *world) runnersAct(submitting bool) {
	// Deaths and returns.
	for _, r := range w.runners {
		if r.alive && submitting && w.rnd.IntN(400) == 0 {
			r.alive = false
			r.revivesAt = w.now.Add(time.Duration(5+w.rnd.IntN(40)) * time.Second)
		}
		if !r.alive && !w.now.Before(r.revivesAt) {
			r.alive, r.zombie = true, true
			r.lastBeat = w.now
		}
	}
	// Unacknowledged dispatches of dead runners come back after the ack wait
	// (a live runner acknowledges at start, or marks them in progress).
	var keep []inFlight
	for _, f := range w.unacked {
		if !w.now.Before(f.due) && !w.runner(f.runner).alive {
			w.bus.dispatches = append([]commands.Dispatch{f.d}, w.bus.dispatches...)
			continue
		}
		keep = append(keep, f)
	}
	w.unacked = keep
	for _, r := range w.runners {
		if !r.alive {
			continue
		}
		ids := make([]string, 0, len(r.held))
		for id := range r.held {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			a := r.held[id]
			if r.zombie {
				switch {
				case a.started && w.fenced(id, a.d.Attempt):
					// Back from the dead: an attempt the scheduler gave up on
					// is stopped (fencing); a late event may slip out first.
					if w.rnd.IntN(2) == 0 {
						w.bus.appendEvent(&events.RunCompleted{RunID: id, Attempt: a.d.Attempt}, a.d.Attempt)
					}
					delete(r.held, id)
					continue
				case !a.started && !w.holds(r.id, a.d):
					// Its dispatch went to another runner meanwhile.
					delete(r.held, id)
					continue
				}
			}
			if !a.started {
				if w.attemptSeen(id, a.d.Attempt) {
					delete(r.held, id) // delivered again after it ran elsewhere: dropped
					w.ack(r.id, a.d)
					continue
				}
				if w.rnd.IntN(30) == 0 {
					w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonSpawnFailed,
						Retryable: runs.AttemptRetryable(a.d.Spec, runs.ReasonSpawnFailed, a.d.RetriesLeft)}, a.d.Attempt)
					delete(r.held, id)
					w.ack(r.id, a.d)
					continue
				}
				a.started = true
				a.ends = w.now.Add(time.Duration(1+w.rnd.IntN(20)) * time.Second)
				w.bus.appendEvent(&events.RunStarted{RunID: id, Attempt: a.d.Attempt, RunnerID: r.id}, a.d.Attempt)
				w.ack(r.id, a.d)
				continue
			}
			if a.d.Deadline != nil && !w.now.Before(*a.d.Deadline) {
				w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonTimeout,
					Retryable: runs.AttemptRetryable(a.d.Spec, runs.ReasonTimeout, a.d.RetriesLeft)}, a.d.Attempt)
				delete(r.held, id)
				continue
			}
			if w.now.Before(a.ends) {
				continue
			}
			switch k := w.rnd.IntN(100); {
			case k < 70:
				w.bus.appendEvent(&events.RunCompleted{RunID: id, Attempt: a.d.Attempt}, a.d.Attempt)
			case k < 80:
				w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonAgentError}, a.d.Attempt)
			case k < 88:
				w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonAPIError,
					Retryable: runs.AttemptRetryable(a.d.Spec, runs.ReasonAPIError, a.d.RetriesLeft)}, a.d.Attempt)
			case k < 94:
				reset := w.now.Add(time.Duration(5+w.rnd.IntN(30)) * time.Second)
				w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonUsageLimit, ResetsAt: &reset,
					Retryable: runs.AttemptRetryable(a.d.Spec, runs.ReasonUsageLimit, a.d.RetriesLeft)}, a.d.Attempt)
			default:
				w.bus.appendEvent(&events.RunFailed{RunID: id, Attempt: a.d.Attempt, Reason: runs.ReasonRateLimited,
					Retryable: runs.AttemptRetryable(a.d.Spec, runs.ReasonRateLimited, a.d.RetriesLeft)}, a.d.Attempt)
			}
			delete(r.held, id)
		}
		r.zombie = false
		// Pull dispatches while a slot is free.
		for len(r.held) < r.slots && len(w.bus.dispatches) > 0 {
			d := w.bus.dispatches[0]
			w.bus.dispatches = w.bus.dispatches[1:]
			if _, dup := r.held[d.RunID]; dup {
				w.bus.dispatches = append(w.bus.dispatches, d)
				break
			}
			r.held[d.RunID] = &simAttempt{d: d}
			w.unacked = append(w.unacked, inFlight{d: d, runner: r.id, due: w.now.Add(ackWait)})
		}
	}
}

// holds reports whether runner still holds d's message unacknowledged.
func (w *world) holds(runner string, d commands.Dispatch) bool {
	return slices.ContainsFunc(w.unacked, func(f inFlight) bool {
		return f.runner == runner && f.d.RunID == d.RunID && f.d.Attempt == d.Attempt
	})
}

// ack settles a runner's dispatch (it is not redelivered).
func (w *world) ack(runner string, d commands.Dispatch) {
	w.unacked = slices.DeleteFunc(w.unacked, func(f inFlight) bool {
		return f.runner == runner && f.d.RunID == d.RunID && f.d.Attempt == d.Attempt
	})
}

func (w *world) runner(id string) *simRunner {
	for _, r := range w.runners {
		if r.id == id {
			return r
		}
	}
	return nil
}

func (w *world) cancelOnRunner(c commands.RunnerCancel) {
	for _, r := range w.runners {
		if r.id != c.RunnerID || !r.alive {
			continue
		}
		if a, ok := r.held[c.RunID]; ok && a.d.Attempt == c.Attempt && a.started {
			w.bus.appendEvent(&events.RunCanceled{RunID: c.RunID, Attempt: c.Attempt, Reason: runs.ReasonCanceled}, c.Attempt)
			delete(r.held, c.RunID)
		}
	}
}

// drain stops the chaos and lets every run finish.
func (w *world) drain() {
	for _, r := range w.runners {
		if !r.alive {
			r.revivesAt = w.now
		}
	}
	for range 20000 {
		w.step(false)
		if w.done() {
			return
		}
	}
}

func (w *world) done() bool {
	if len(w.cmds) > 0 {
		return false
	}
	s := w.sched.Snapshot()
	return len(s.Queued) == 0 && len(s.Active) == 0 && len(s.Retrying) == 0 && len(s.Undecided) == 0
}

func simSeeds(t *testing.T) (seeds []uint64, perSeed int) {
	if v := os.Getenv("PHANTOM_SIM_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err)
		return []uint64{n}, envInt(t, "PHANTOM_SIM_DISPATCHES", 5000)
	}
	n, per := 20, 5000
	switch {
	case testing.Short():
		n, per = 4, 1000
	case raceEnabled:
		per = 2000
	}
	for i := range n {
		seeds = append(seeds, uint64(i+1))
	}
	return seeds, per
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err)
	return n
}

func TestSimulation(t *testing.T) {
	t.Parallel()
	seeds, perSeed := simSeeds(t)
	total := 0
	for _, seed := range seeds {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			for steps, n := 0, 0; n < perSeed; steps++ {
				w.step(true)
				if w.bus.broken != nil {
					w.explain(t)
				}
				if steps%64 == 0 && !w.bus.failed {
					live, shadow := w.sched.Snapshot(), w.bus.shadow.Snapshot()
					if fmt.Sprint(live.Queued, live.Active, live.Slots) != fmt.Sprint(shadow.Queued, shadow.Active, shadow.Slots) {
						n := len(w.bus.log)
						for _, x := range w.bus.log[max(n-20, 0):] {
							t.Logf("log: %d %s %s %s %+v", x.seq, x.at.Format("15:04:05.000"), x.msg.ID, x.msg.Event.EventType(), x.msg.Event)
						}
						t.Fatalf("step %d: the scheduler's state left the log's:\nlive   %v %v\nshadow %v %v", steps, live.Active, live.Slots, shadow.Active, shadow.Slots)
					}
				}
				n = w.bus.dispatchedN
				if steps > 100*perSeed {
					sn := w.sched.Snapshot()
					t.Fatalf("no progress: %d dispatches after %d steps; queued %d active %d retrying %d undecided %d cmds %d dispatch msgs %d",
						n, steps, len(sn.Queued), len(sn.Active), len(sn.Retrying), len(sn.Undecided), len(w.cmds), len(w.bus.dispatches))
				}
			}
			w.drain()
			require.True(t, w.done(), "the queue drained")
			n := check(t, w)
			total += n
			t.Logf("seed %d: %d dispatches (%d stored late), %d runs, %d events, %d scheduler crashes, %d conditional appends refused",
				seed, n, w.bus.online.late, len(w.submitted), len(w.bus.log), w.crashes, w.bus.conflicts)
		})
	}
	t.Logf("%d dispatches checked over %d seeds", total, len(seeds))
}

// oracleRun is what the oracle knows of one run, from the log only.
type oracleRun struct {
	id        string
	spec      runs.Spec
	key       int64
	seq       int
	queued    bool // waiting in the queue
	retrying  bool // failed retryably, not queued again yet
	held      int  // attempt holding a slot (0: none)
	attempt   int
	terminal  bool
	dispatchN map[int]int
}

// oracle follows the log, independently of the queue package, and checks
// every decision against the invariants as it is recorded.
type oracle struct {
	step                             int64
	rs                               map[string]*oracleRun
	queued                           map[string]*oracleRun
	waiting, active, dispatches, req int
	// late counts dispatches stored late (their order is not judged).
	late                              int
	perProvider, perProfile, perSpace map[string]int
	holds                             map[string]time.Time
	profiles                          map[string]int
	requested                         map[string]int
}

func newOracle() *oracle {
	return &oracle{step: int64(simPolicy().AgingHorizon / 20), rs: map[string]*oracleRun{}, queued: map[string]*oracleRun{},
		perProvider: map[string]int{}, perProfile: map[string]int{}, perSpace: map[string]int{},
		holds: map[string]time.Time{}, profiles: map[string]int{}, requested: map[string]int{}}
}

func wsKey(ws string) string {
	best := ""
	for root := range simLimits.Workspaces {
		if (ws == root || len(ws) > len(root) && ws[:len(root)+1] == root+"/") && len(root) > len(best) {
			best = root
		}
	}
	return best
}

func provLimit(p string) int {
	if n, ok := simLimits.Providers[p]; ok {
		return n
	}
	return simLimits.MaxPerProvider
}

func (o *oracle) release(r *oracleRun) {
	if r.held == 0 {
		return
	}
	r.held = 0
	o.active--
	o.perProvider[r.spec.ProviderOrAgent()]--
	if r.spec.Profile != "" {
		o.perProfile[r.spec.Profile]--
	}
	if k := wsKey(r.spec.Workspace); k != "" {
		o.perSpace[k]--
	}
}

// blocked names what keeps r from a slot at at ("" when nothing does).
func (o *oracle) blocked(r *oracleRun, at time.Time) string {
	p := r.spec.ProviderOrAgent()
	if until, ok := o.holds[p]; ok && at.Before(until) {
		return "hold"
	}
	if o.perProvider[p] >= provLimit(p) {
		return "provider"
	}
	if lim, ok := o.profiles[r.spec.Profile]; ok && r.spec.Profile != "" && o.perProfile[r.spec.Profile] >= lim {
		return "profile"
	}
	if k := wsKey(r.spec.Workspace); k != "" && o.perSpace[k] >= simLimits.Workspaces[k] {
		return "workspace"
	}
	return ""
}

// apply takes the next stored event; it returns the first invariant broken.
func (o *oracle) apply(e stored) error {
	switch ev := e.msg.Event.(type) {
	case *events.ProfileSaved:
		o.profiles[ev.Name] = *ev.MaxConcurrent
	case *events.ProviderHeld:
		if ev.Until.After(o.holds[ev.Provider]) {
			o.holds[ev.Provider] = ev.Until
		}
	case *events.ProviderReleased:
		if !o.holds[ev.Provider].After(ev.Until) {
			delete(o.holds, ev.Provider)
		}
	case *events.RunRequested:
		o.requested[ev.RunID]++
		o.req++
		o.rs[ev.RunID] = &oracleRun{id: ev.RunID, spec: ev.Spec, seq: o.req, dispatchN: map[int]int{}}
	case *events.RunRejected:
		o.rs[ev.RunID].terminal = true
	case *events.RunQueued:
		r := o.rs[ev.RunID]
		if r.terminal {
			return fmt.Errorf("seq %d: run %s queued after its end", e.seq, ev.RunID)
		}
		if ev.Attempt == 1 {
			if o.waiting >= simLimits.Capacity {
				return fmt.Errorf("seq %d: capacity: run %s admitted with %d runs waiting", e.seq, ev.RunID, o.waiting)
			}
			r.key = e.at.UnixNano() - int64(r.spec.PriorityOrZero())*o.step
		}
		if ev.Attempt <= r.attempt {
			return fmt.Errorf("seq %d: run %s queued for attempt %d after attempt %d", e.seq, ev.RunID, ev.Attempt, r.attempt)
		}
		if !r.retrying {
			o.waiting++
		}
		r.attempt, r.queued, r.retrying = ev.Attempt, true, false
		o.queued[ev.RunID] = r
	case *events.RunDispatched:
		r := o.rs[ev.RunID]
		if r.attempt != ev.Attempt || !r.queued {
			return fmt.Errorf("seq %d: run %s dispatched for attempt %d, not queued (queued attempt %d: %v)", e.seq, ev.RunID, ev.Attempt, r.attempt, r.queued)
		}
		r.dispatchN[ev.Attempt]++
		if r.dispatchN[ev.Attempt] != 1 {
			return fmt.Errorf("seq %d: run %s attempt %d dispatched twice", e.seq, ev.RunID, ev.Attempt)
		}
		if why := o.blocked(r, e.at); why != "" {
			return fmt.Errorf("seq %d: run %s dispatched past its %s limit or hold", e.seq, ev.RunID, why)
		}
		// Priority with aging: no waiting run that fits comes before it
		// (judged for decisions stored in the order they were taken).
		var first *oracleRun
		if e.late {
			o.late++
		}
		for id, q := range o.queued {
			if !e.late && id != ev.RunID && (q.key < r.key || q.key == r.key && q.seq < r.seq) && o.blocked(q, e.at) == "" {
				if first == nil || q.key < first.key {
					first = q
				}
			}
		}
		if first != nil {
			return fmt.Errorf("seq %d: run %s (key %d) dispatched before run %s (key %d), which fitted", e.seq, ev.RunID, r.key, first.id, first.key)
		}
		r.queued, r.held = false, ev.Attempt
		delete(o.queued, ev.RunID)
		o.waiting--
		o.active++
		o.perProvider[r.spec.ProviderOrAgent()]++
		if r.spec.Profile != "" {
			o.perProfile[r.spec.Profile]++
		}
		if k := wsKey(r.spec.Workspace); k != "" {
			o.perSpace[k]++
		}
		if o.active > simLimits.MaxRunning {
			return fmt.Errorf("seq %d: %d runs hold a slot, above the global limit", e.seq, o.active)
		}
		o.dispatches++
	case *events.RunCompleted, *events.RunCanceled, *events.RunFailed:
		id, _ := events.RunIDOf(ev)
		r := o.rs[id]
		attempt := attemptOf(ev)
		if r == nil || r.terminal || attempt < r.attempt || r.retrying && attempt == r.attempt {
			return nil // a late event of an ended run or an abandoned attempt
		}
		if f, ok := ev.(*events.RunFailed); ok && f.Retryable {
			if r.held != attempt {
				return nil // reported twice
			}
			o.release(r)
			r.retrying = true
			o.waiting++
			return nil
		}
		o.release(r)
		if r.queued || r.retrying {
			o.waiting--
		}
		delete(o.queued, id)
		r.queued, r.retrying, r.terminal = false, false, true
	}
	return nil
}

// check replays the log and asserts the invariants; it returns the dispatches.
func check(t *testing.T, w *world) int {
	t.Helper()
	o := newOracle()
	for _, e := range w.bus.log {
		require.NoError(t, o.apply(e))
	}
	// No run lost: every submitted run was requested once and ended.
	for _, id := range w.submitted {
		require.Equal(t, 1, o.requested[id], "run %s requested once", id)
		require.True(t, o.rs[id].terminal, "run %s never ended", id)
	}
	return o.dispatches
}

func attemptOf(ev events.Payload) int {
	switch e := ev.(type) {
	case *events.RunCompleted:
		return e.Attempt
	case *events.RunCanceled:
		return e.Attempt
	case *events.RunFailed:
		return e.Attempt
	}
	return 0
}

// explain fails the test with the invariant broken and the scheduler's view.
func (w *world) explain(t *testing.T) {
	t.Helper()
	sn := w.sched.Snapshot()
	for _, j := range w.sched.Queue(rpc.SchedulerQueueRequest{}).Jobs {
		r := w.bus.online.rs[j.RunID]
		t.Logf("scheduler job: %s %s %s prio %d eff %.2f waiting %s ws %s profile %s key %d", j.RunID, j.Provider, j.QueuedAt.Format("15:04:05.000"),
			j.Priority, j.EffectivePriority, j.Waiting, j.Workspace, j.Profile, r.key)
	}
	for _, a := range sn.Active {
		r := w.bus.online.rs[a.RunID]
		t.Logf("scheduler active: %s %s attempt %d ws %s profile %s", a.RunID, a.Provider, a.Attempt, r.spec.Workspace, r.spec.Profile)
	}
	for id, r := range w.bus.online.rs {
		if r.held != 0 {
			t.Logf("oracle active: %s %s attempt %d ws %s profile %s", id, r.spec.ProviderOrAgent(), r.held, r.spec.Workspace, r.spec.Profile)
		}
	}
	t.Logf("oracle counts: %v %v %v", w.bus.online.perProvider, w.bus.online.perProfile, w.bus.online.perSpace)
	t.Logf("scheduler slots: %v", sn.Slots)
	for _, h := range sn.Holds {
		t.Logf("scheduler hold: %+v", h)
	}
	// The queue as the log stood before the decision.
	var bad uint64
	fmt.Sscanf(w.bus.broken.Error(), "seq %d", &bad)
	q := queue.New(simLimits, simPolicy())
	for _, x := range w.bus.log[:bad-1] {
		q.Apply(x.msg.Event, x.at)
	}
	for _, d := range q.NextDispatches(w.now) {
		t.Logf("replayed queue would dispatch: %s", d.RunID)
	}
	jobs := q.Jobs(w.now, "", "")
	for _, j := range jobs[:min(5, len(jobs))] {
		t.Logf("replayed queue job: %s %s waiting %s", j.RunID, j.Provider, j.Waiting)
	}
	t.Logf("replayed slots: %v", q.Snapshot().Slots)
	n := len(w.bus.log)
	for _, x := range w.bus.log[max(n-14, 0):] {
		line := fmt.Sprintf("log: %d %s %s %s %+v", x.seq, x.at.Format("15:04:05.000"), x.msg.ID, x.msg.Event.EventType(), x.msg.Event)
		if r := w.bus.online.rs[x.msg.Event.AggregateID()]; r != nil {
			line += " [" + r.spec.ProviderOrAgent() + " " + r.spec.Workspace + " " + r.spec.Profile + "]"
		}
		t.Log(line)
	}
	if ids := os.Getenv("PHANTOM_SIM_DUMP"); ids != "" {
		dumpRun(t, w, strings.Split(ids, ",")...)
	}
	t.Fatalf("at %s: %v", w.now.Format("15:04:05.000"), w.bus.broken)
}

// dumpRun logs the whole history of the runs ids (PHANTOM_SIM_DUMP=id,id
// when a seed fails) and the provider holds.
func dumpRun(t *testing.T, w *world, ids ...string) {
	for _, e := range w.bus.log {
		id, ok := events.RunIDOf(e.msg.Event)
		if !ok {
			if h, ok := e.msg.Event.(*events.ProviderHeld); ok {
				t.Logf("%d %s held %s until %s", e.seq, e.at.Format("15:04:05.000"), h.Provider, h.Until.Format("15:04:05.000"))
			}
			if h, ok := e.msg.Event.(*events.ProviderReleased); ok {
				t.Logf("%d %s released %s", e.seq, e.at.Format("15:04:05.000"), h.Provider)
			}
			continue
		}
		if slices.Contains(ids, id) {
			if rq, ok := e.msg.Event.(*events.RunRequested); ok {
				t.Logf("%d %s %s requested agent=%s ws=%s profile=%s priority=%d", e.seq, e.at.Format("15:04:05.000"), id,
					rq.Spec.Agent, rq.Spec.Workspace, rq.Spec.Profile, rq.Spec.PriorityOrZero())
				continue
			}
			t.Logf("%d %s %s %s %+v", e.seq, e.at.Format("15:04:05.000"), id, e.msg.Event.EventType(), e.msg.Event)
		}
	}
}
