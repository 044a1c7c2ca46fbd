package redact_test

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/pkg/redact/internal/chunkwise"
)

// The corpora: what agents print most (source code and prose, stream-json),
// and the worst case, a secret on every line.
func corpora(b *testing.B) map[string][]byte {
	b.Helper()
	var plain []byte
	for _, f := range []string{"src/net/http/server.go", "src/fmt/doc.go", "src/encoding/json/decode.go"} {
		data, err := os.ReadFile(filepath.Join(runtime.GOROOT(), f))
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
		"plain": bytes.Repeat(plain, 4),
		"json":  bytes.Repeat(transcript, 256),
		"dense": dense,
	}
}

// BenchmarkRedact measures the stream redactor against the chunk-by-chunk
// redactor it replaces, in the same run, over the same text cut into the
// runner's 32 KiB reads: MB/s of each, and their ratio.
func BenchmarkRedact(b *testing.B) {
	const read = 32 << 10
	for _, name := range []string{"plain", "json", "dense"} {
		text := corpora(b)[name]
		b.Run(name, func(b *testing.B) {
			r := redact.New("one-secret-value-here")
			old := chunkwise.New("one-secret-value-here")
			var streamTime, oldTime time.Duration
			for b.Loop() {
				start := time.Now()
				s := r.NewStream(0)
				for p := text; len(p) > 0; {
					n := min(read, len(p))
					_ = s.Write(p[:n])
					p = p[n:]
				}
				_ = s.Close()
				mid := time.Now()
				for p := text; len(p) > 0; {
					n := min(read, len(p))
					_ = old.String(string(p[:n]))
					p = p[n:]
				}
				oldTime += time.Since(mid)
				streamTime += mid.Sub(start)
			}
			mb := float64(len(text)) * float64(b.N) / 1e6
			b.ReportMetric(mb/streamTime.Seconds(), "stream-MB/s")
			b.ReportMetric(mb/oldTime.Seconds(), "chunkwise-MB/s")
		})
	}
}
