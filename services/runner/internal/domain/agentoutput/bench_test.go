package agentoutput

import (
	"bytes"
	"os"
	"testing"
)

// BenchmarkClaudeParser parses Claude Code's stream-json (the bash-tool
// transcript, over and over).
func BenchmarkClaudeParser(b *testing.B) {
	data, err := os.ReadFile("testdata/transcripts/claude_bash_tool.ndjson")
	if err != nil {
		b.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSpace(data), []byte{'\n'})[1:]
	b.SetBytes(int64(len(data)))
	p := New("claude")
	for b.Loop() {
		for _, l := range lines {
			p.Line(l)
		}
	}
}
