package policy_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// BenchmarkCheck judges a realistic mix: every corpus command up to 4 KiB
// (what agents actually send; the corpora's megabyte budget cases are left
// out) plus the unit commands, round robin. Besides ns/op it reports the
// median and 99th percentile latency of single checks.
func BenchmarkCheck(b *testing.B) {
	cmds := append(corpusCommands(b, 4<<10), unitCommands()...)
	home, err := filepath.EvalSymlinks(b.TempDir())
	if err != nil {
		b.Fatalf("could not resolve temp dir: %v", err)
	}
	project := filepath.Join(home, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		b.Fatalf("could not create project: %v", err)
	}
	reqs := make([]policy.Request, len(cmds))
	for i, c := range cmds {
		reqs[i] = policy.Request{Command: c, Cwd: project, Env: map[string]string{"HOME": home, "TMPDIR": "/tmp"}}
	}
	eng := policy.New()
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	blocked := 0
	b.ResetTimer()
	i := 0
	for b.Loop() {
		start := time.Now()
		d := eng.Check(ctx, reqs[i%len(reqs)])
		lat = append(lat, time.Since(start))
		if d.Blocked() {
			blocked++
		}
		i++
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(pct(0.50), "p50-ns")
	b.ReportMetric(pct(0.99), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
	b.ReportMetric(float64(len(reqs)), "commands")
	b.ReportMetric(float64(blocked)/float64(len(lat)), "block-ratio")
}
