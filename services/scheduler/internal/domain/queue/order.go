package queue

import (
	"sort"
	"time"
)

// less orders queued runs: lower key first, then request order.
func less(a, b *entry) bool {
	if a.key != b.key {
		return a.key < b.key
	}
	return a.seq < b.seq
}

// insert puts r at its place in the sorted queue.
func (q *Queue) insert(r *entry) {
	i := sort.Search(len(q.queued), func(i int) bool { return less(r, q.queued[i]) })
	q.queued = append(q.queued, nil)
	copy(q.queued[i+1:], q.queued[i:])
	q.queued[i] = r
}

// unqueue takes r out of the sorted queue.
func (q *Queue) unqueue(r *entry) {
	i := sort.Search(len(q.queued), func(i int) bool { return !less(q.queued[i], r) })
	if i < len(q.queued) && q.queued[i] == r {
		q.queued = append(q.queued[:i], q.queued[i+1:]...)
		return
	}
	// Not where its key says: search it (never expected; keeps the state sane).
	q.queued = remove(q.queued, r)
}

// Key is the ordering key a run queued at at with priority would have.
func (q *Queue) Key(at time.Time, priority int) int64 {
	return at.UnixNano() - int64(priority)*q.step
}

// EffectivePriority is priority raised by aging after waiting since queuedAt.
func (q *Queue) EffectivePriority(priority int, queuedAt, now time.Time) float64 {
	wait := now.Sub(queuedAt)
	if wait < 0 {
		wait = 0
	}
	return float64(priority) + float64(wait)/float64(q.step)
}
