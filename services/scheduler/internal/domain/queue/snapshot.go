package queue

import (
	"sort"
	"strings"
	"time"
)

// Entry is one run in a Snapshot.
type Entry struct {
	RunID    string
	Attempt  int
	Provider string
	Pool     string
	Priority int
	Phase    Phase
	RunnerID string
	// QueuedAt, NotBefore and Retries tell the run's place and retry state.
	QueuedAt  time.Time
	NotBefore time.Time
	Retries   int
}

// Snapshot is the scheduling state that matters: who waits, in which order,
// who holds a slot, who waits for a retry, which providers are held. Two
// queues that took the same events have equal snapshots.
type Snapshot struct {
	Undecided []Entry
	// Queued is in dispatch order.
	Queued []Entry
	// Active (dispatched or running) is sorted by run id.
	Active []Entry
	// Retrying (failed retryably, or in backoff) is sorted by run id.
	Retrying []Entry
	// Holds are the providers' holds, sorted by provider.
	Holds []Hold
	// Profiles are the profiles' concurrency limits.
	Profiles map[string]int
	// Slots counts the slots taken per key ("provider:claude",
	// "profile:nightly", "workspace:/src"); it must agree with Active.
	Slots map[string]int
}

// Snapshot returns the current state.
func (q *Queue) Snapshot() Snapshot {
	s := Snapshot{Undecided: entries(q.undecided), Queued: entries(q.queued), Profiles: q.ProfileLimits(), Slots: map[string]int{}}
	for k, n := range q.perProvider {
		s.Slots["provider:"+k] = n
	}
	for k, n := range q.perProfile {
		s.Slots["profile:"+k] = n
	}
	for k, n := range q.perSpace {
		s.Slots["workspace:"+k] = n
	}
	for _, r := range q.runs {
		switch {
		case r.Phase.holdsSlot():
			s.Active = append(s.Active, entryOf(r))
		case r.Phase.waitsForRetry():
			s.Retrying = append(s.Retrying, entryOf(r))
		}
	}
	byID := func(a, b Entry) int { return strings.Compare(a.RunID, b.RunID) }
	sortEntries(s.Active, byID)
	sortEntries(s.Retrying, byID)
	for _, h := range q.holds {
		s.Holds = append(s.Holds, h)
	}
	sort.Slice(s.Holds, func(i, j int) bool { return s.Holds[i].Provider < s.Holds[j].Provider })
	return s
}

func sortEntries(list []Entry, cmp func(a, b Entry) int) {
	sort.Slice(list, func(i, j int) bool { return cmp(list[i], list[j]) < 0 })
}

func entries(list []*entry) []Entry {
	out := make([]Entry, len(list))
	for i, r := range list {
		out[i] = entryOf(r)
	}
	return out
}

func entryOf(r *entry) Entry {
	return Entry{RunID: r.ID, Attempt: r.Attempt, Provider: r.Provider, Pool: r.Pool, Priority: r.Priority, Phase: r.Phase,
		RunnerID: r.RunnerID, QueuedAt: r.QueuedAt.UTC(), NotBefore: r.NotBefore.UTC(), Retries: r.Retries}
}
