// Package liveness tells which runners are gone: a runner rewrites its
// entry in the phantom_runners bucket every heartbeat, and one that misses
// Missed heartbeats in a row is lost. It is pure (no clock, no I/O): the
// caller reports what it saw and asks at a time of its choosing.
package liveness

import (
	"sort"
	"time"
)

// Missed is how many heartbeats a runner may miss before it is lost.
const Missed = 3

// Runner is what the tracker knows of one runner.
type Runner struct {
	ID string
	// LastSeen is the time of its last heartbeat.
	LastSeen time.Time
	// Heartbeat is its heartbeat interval.
	Heartbeat time.Duration
}

// Deadline is when the runner is lost if it is not seen again.
func (r Runner) Deadline() time.Time { return r.LastSeen.Add(Missed * r.Heartbeat) }

// Tracker follows runners' heartbeats.
type Tracker struct {
	// def is the heartbeat assumed for a runner that does not say its own.
	def     time.Duration
	runners map[string]Runner
	// reported are runners declared lost, until they are seen again.
	reported map[string]bool
	// since is when tracking started: a runner never seen is judged from it.
	since time.Time
}

// New returns a tracker that starts judging at since, assuming heartbeat
// def for runners that do not announce theirs.
func New(since time.Time, def time.Duration) *Tracker {
	return &Tracker{def: def, runners: map[string]Runner{}, reported: map[string]bool{}, since: since}
}

// Seen records a heartbeat of runner id at at, with its interval (0: the default).
// A runner declared lost that heartbeats again is live again.
func (t *Tracker) Seen(id string, at time.Time, heartbeat time.Duration) {
	if heartbeat <= 0 {
		heartbeat = t.def
	}
	old, known := t.runners[id]
	if known && !at.After(old.LastSeen) {
		return
	}
	t.runners[id] = Runner{ID: id, LastSeen: at, Heartbeat: heartbeat}
	// A runner declared lost that heartbeats again is live again.
	delete(t.reported, id)
}

// Gone records that a runner deleted its entry: it left on purpose
// (drained) and reported its attempts itself.
func (t *Tracker) Gone(id string) {
	delete(t.runners, id)
	delete(t.reported, id)
}

// Lost returns the runners lost at now, among the tracked ones and the
// holders (runners the caller knows hold attempts, seen or not), each once
// until it is seen again. A holder never seen is judged as if last seen
// when tracking started.
func (t *Tracker) Lost(now time.Time, holders []string) []Runner {
	var out []Runner
	check := func(r Runner) {
		if !t.reported[r.ID] && now.After(r.Deadline()) {
			t.reported[r.ID] = true
			out = append(out, r)
		}
	}
	for _, r := range t.runners {
		check(r)
	}
	for _, id := range holders {
		if _, ok := t.runners[id]; !ok {
			t.runners[id] = Runner{ID: id, LastSeen: t.since, Heartbeat: t.def}
			check(t.runners[id])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Unreport forgets that a runner was reported lost, so that Lost reports
// it again (the caller could not act on the report).
func (t *Tracker) Unreport(id string) { delete(t.reported, id) }

// Next is the earliest deadline after now of a runner not reported, or zero.
func (t *Tracker) Next(now time.Time) time.Time {
	var next time.Time
	for _, r := range t.runners {
		if d := r.Deadline(); !t.reported[r.ID] && d.After(now) && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	return next
}

// Runners lists the tracked runners, by id.
func (t *Tracker) Runners() []Runner {
	out := make([]Runner, 0, len(t.runners))
	for _, r := range t.runners {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
