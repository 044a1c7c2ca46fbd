package redact_test

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/pkg/redact/internal/chunkwise"
)

// The corpora: what agents print most (raw lines, source code and prose,
// stream-json), and the worst case, a secret on every line.
func corpora(b *testing.B) map[string][]byte {
	b.Helper()
	// Plain text: this repository's prose and Go source.
	files, err := filepath.Glob("../bus/*.go")
	if err != nil || len(files) == 0 {
		b.Fatalf("no Go source for the plain corpus: %v", err)
	}
	var plain []byte
	for _, f := range append(files, "../../DEVELOPERS.md", "../../services/runner/README.md") {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		plain = append(plain, data...)
	}
	transcript, err := os.ReadFile("testdata/claude_bash_tool.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	var dense []byte
	for i := range 200 {
		for _, sh := range shapes {
			dense = append(dense, sh.Text...)
			dense = append(dense, '\n')
		}
		dense = append(dense, "line "...)
		dense = append(dense, byte('0'+i%10))
		dense = append(dense, '\n')
	}
	return map[string][]byte{
		// The fake agent's raw output (bytes=N), what the runner's raw
		// throughput benchmark streams.
		"raw":   bytes.Repeat(append(bytes.Repeat([]byte("x"), 99), '\n'), 3000),
		"plain": bytes.Repeat(plain, 4),
		"json":  bytes.Repeat(transcript, 256),
		"dense": dense,
	}
}

// BenchmarkRedact measures the stream redactor against the chunk-by-chunk
// redactor it replaces, in the same run, over the same text cut into the
// runner's 32 KiB reads: MB/s of each over the wall clock, over the
// process's CPU time, and over the fastest pass of each (the figures that a
// busy, shared machine changes least).
func BenchmarkRedact(b *testing.B) {
	const read = 32 << 10
	for _, name := range []string{"raw", "plain", "json", "dense"} {
		text := corpora(b)[name]
		b.Run(name, func(b *testing.B) {
			r := redact.New("one-secret-value-here")
			old := chunkwise.New("one-secret-value-here")
			var streamWall, oldWall, streamCPU, oldCPU time.Duration
			streamBest, oldBest := time.Duration(1<<62), time.Duration(1<<62)
			for b.Loop() {
				start, cpu0 := time.Now(), cpuTime(b)
				s := r.NewStream(0)
				for p := text; len(p) > 0; {
					n := min(read, len(p))
					_ = s.Write(p[:n])
					p = p[n:]
				}
				_ = s.Close()
				mid, cpu1 := time.Now(), cpuTime(b)
				for p := text; len(p) > 0; {
					n := min(read, len(p))
					_ = old.String(string(p[:n]))
					p = p[n:]
				}
				oldPass := time.Since(mid)
				oldWall += oldPass
				oldCPU += cpuTime(b) - cpu1
				streamWall += mid.Sub(start)
				streamCPU += cpu1 - cpu0
				streamBest, oldBest = min(streamBest, mid.Sub(start)), min(oldBest, oldPass)
			}
			mb := float64(len(text)) * float64(b.N) / 1e6
			b.ReportMetric(mb/streamWall.Seconds(), "stream-MB/s")
			b.ReportMetric(mb/oldWall.Seconds(), "chunkwise-MB/s")
			b.ReportMetric(mb/streamCPU.Seconds(), "stream-MB/cpu-s")
			b.ReportMetric(mb/oldCPU.Seconds(), "chunkwise-MB/cpu-s")
			b.ReportMetric(float64(len(text))/1e6/streamBest.Seconds(), "stream-best-MB/s")
			b.ReportMetric(float64(len(text))/1e6/oldBest.Seconds(), "chunkwise-best-MB/s")
			b.ReportMetric(streamWall.Seconds()/oldWall.Seconds(), "stream/chunkwise-time")
		})
	}
}

// cpuTime is the CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
