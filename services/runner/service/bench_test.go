package service_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/service"
)

// BenchmarkStreamOutput runs the fake agent printing raw output as fast as it
// can and measures how fast the runner turns it into stored chunk events,
// and how much the runner's heap grows meanwhile (the agent is a separate
// process; the embedded NATS server shares this process and is included).
func BenchmarkStreamOutput(b *testing.B) {
	const size = 64 << 20
	bd := setup(b)
	bd.startRunner("r-bench", service.Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		id := fmt.Sprintf("bench-%d", i)
		bd.dispatch(id, runs.Spec{Prompt: fmt.Sprintf("bytes=%d", size), Workspace: b.TempDir(), Isolation: "none"})
		bd.waitFor(id, "run.completed", 5*time.Minute)
	}
	took := time.Since(start)
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(size*b.N)/took.Seconds()/(1<<20), "MB/s")
	b.ReportMetric(float64(after.HeapSys)/(1<<20), "heap-sys-MB")
	m := bd.waitFor(fmt.Sprintf("bench-%d", b.N-1), "run.runner_metrics", time.Minute).Payload.(*events.RunRunnerMetrics)
	b.ReportMetric(float64(m.Chunks), "chunks/run")
}
