package queue_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/scheduler/internal/domain/queue"
)

// BenchmarkEnqueueAndDecide measures one queue operation: a run is requested,
// decided (the request validated again), queued at its place in the
// priority order, and the dispatch decision is taken. The queue is set up for
// the worst case of a full scan: 511 runs waiting with mixed priorities and
// times, profiles and workspaces with limits, every provider at its limit
// while global slots are free, so the decision walks the whole queue, checks
// every limit and dispatches nothing. The run is then canceled to keep the
// queue at 511.
//
// A raw baseline is measured in the same run: a bare slice of providers
// appended to and scanned with the same map lookups, without events,
// validation, ordering or bookkeeping. Target: <= 50 µs per operation.
func BenchmarkEnqueueAndDecide(b *testing.B) {
	for _, depth := range []int{0, 511} {
		b.Run(fmt.Sprintf("queued=%d", depth), func(b *testing.B) {
			const providers = 16
			limits := queue.Limits{MaxRunning: 100, MaxPerProvider: 1, Capacity: 512,
				Providers: map[string]int{"p1": 1}, Workspaces: map[string]int{"/w": 90, "/w/a": 50}}
			q := queue.New(limits, queue.DefaultPolicy())
			q.Apply(&events.ProfileSaved{Name: "nightly", MaxConcurrent: intp(40)}, t0)
			for p := range providers {
				id := fmt.Sprintf("active-%d", p)
				q.Apply(&events.RunRequested{RunID: id, Spec: runs.Spec{Agent: fmt.Sprintf("p%d", p), Workspace: "/w"}}, t0)
				q.Apply(&events.RunQueued{RunID: id, Attempt: 1}, t0)
				q.Apply(&events.RunDispatched{RunID: id, Attempt: 1}, t0)
			}
			for i := range depth {
				id := fmt.Sprintf("waiting-%d", i)
				s := runs.Spec{Agent: fmt.Sprintf("p%d", i%providers), Workspace: []string{"/w/a/x", "/w/b", "/x"}[i%3], Priority: intp(i%21 - 10)}
				if i%4 == 0 {
					s.Profile = "nightly"
				}
				q.Apply(&events.RunRequested{RunID: id, Spec: s}, t0)
				q.Apply(&events.RunQueued{RunID: id, Attempt: 1}, t0.Add(time.Duration(i)*time.Second))
			}
			ids := make([]string, b.N)
			for i := range ids {
				ids[i] = fmt.Sprintf("bench-%d", i)
			}
			spec := runs.Spec{Agent: "p3", Prompt: "x", Workspace: "/w/a/y", Priority: intp(3), Profile: "nightly"}
			now := t0.Add(time.Hour)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				id := ids[i]
				q.Apply(&events.RunRequested{RunID: id, Spec: spec}, now)
				d, _ := q.Decide(id, now, 0)
				if d.Rejection != nil {
					b.Fatal(d.Rejection.Message)
				}
				q.Apply(&events.RunQueued{RunID: id, Attempt: d.Attempt, Position: d.Position}, now)
				if len(q.NextDispatches(now)) != 0 {
					b.Fatal("every provider is at its limit: nothing may be dispatched")
				}
				q.Apply(&events.RunCanceled{RunID: id, Attempt: 1}, now)
				if i%1024 == 0 {
					q.Prune(now.Add(time.Hour))
				}
			}
			b.StopTimer()
			perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)

			// Baseline: the same scan over a bare slice.
			active := map[string]int{}
			for p := range providers {
				active[fmt.Sprintf("p%d", p)] = 1
			}
			waiting := make([]string, 0, depth+1)
			for i := range depth {
				waiting = append(waiting, fmt.Sprintf("p%d", i%providers))
			}
			start := time.Now()
			picked := 0
			for i := 0; i < b.N; i++ {
				waiting = append(waiting, "p3")
				for _, p := range waiting {
					if active[p] < limits.MaxPerProvider {
						picked++
					}
				}
				waiting = waiting[:len(waiting)-1]
			}
			base := float64(time.Since(start).Nanoseconds()) / float64(b.N)
			if picked != 0 {
				b.Fatal("baseline picked a run")
			}
			b.ReportMetric(base, "baseline-ns/op")
			if base > 0 {
				b.ReportMetric(perOp/base, "x-baseline")
			}
		})
	}
}
