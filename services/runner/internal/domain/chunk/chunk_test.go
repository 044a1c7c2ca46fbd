package chunk_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/pkg/redact/redacttest"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const interval = 50 * time.Millisecond

func opts() chunk.Options {
	return chunk.Options{MaxBytes: 32 << 10, MaxLineBytes: 1 << 20, Interval: interval}
}

func TestFirstOutputGoesAtOnceThenBatches(t *testing.T) {
	t.Parallel()
	b := chunk.New(opts())
	got, _ := b.Write([]byte("hello\n"), t0)
	require.Empty(t, got, "writes only emit when full")
	got = b.Flush(t0)
	require.Equal(t, []chunk.Chunk{{Seq: 1, Offset: 0, Data: "hello\n", Lines: 1}}, got, "after a quiet moment output goes out at once")

	// Within the interval of that chunk, output gathers.
	b.Write([]byte("a\n"), t0.Add(10*time.Millisecond))
	require.Empty(t, b.Flush(t0.Add(10*time.Millisecond)))
	b.Write([]byte("b\n"), t0.Add(20*time.Millisecond))
	due, ok := b.Due()
	require.True(t, ok)
	require.Equal(t, t0.Add(interval), due)
	require.Empty(t, b.Flush(due.Add(-time.Millisecond)))
	require.Equal(t, []chunk.Chunk{{Seq: 2, Offset: 6, Data: "a\nb\n", Lines: 2}}, b.Flush(due))
	_, ok = b.Due()
	require.False(t, ok)
}

func TestPartialLineWaitsOneInterval(t *testing.T) {
	t.Parallel()
	b := chunk.New(opts())
	b.Write([]byte("line\nprompt> "), t0)
	require.Equal(t, "line\n", b.Flush(t0)[0].Data, "complete lines go, the partial one waits")
	due, ok := b.Due()
	require.True(t, ok)
	require.Equal(t, t0.Add(interval), due)
	b.Write([]byte("more"), t0.Add(30*time.Millisecond))
	due, _ = b.Due()
	require.Equal(t, t0.Add(interval), due, "the partial line's age counts from its start")
	got := b.Flush(due)
	require.Equal(t, []chunk.Chunk{{Seq: 2, Offset: 5, Data: "prompt> more", Lines: 0}}, got)
	_, ok = b.Due()
	require.False(t, ok)
}

func TestSizeSplitsAtLineBoundaries(t *testing.T) {
	t.Parallel()
	o := opts()
	o.MaxBytes = 100
	b := chunk.New(o)
	var in strings.Builder
	for i := range 50 {
		in.WriteString(strings.Repeat("x", i%20) + "\n")
	}
	got, _ := b.Write([]byte(in.String()), t0)
	require.NotEmpty(t, got)
	for _, c := range got {
		require.LessOrEqual(t, len(c.Data), 100)
		require.True(t, strings.HasSuffix(c.Data, "\n"), "cut after a newline: %q", c.Data)
	}
	got = append(got, b.Close(t0)...)
	require.Equal(t, in.String(), concat(got))
}

func TestLongLineWithoutNewlineIsCutOnARuneBoundary(t *testing.T) {
	t.Parallel()
	o := opts()
	o.MaxBytes = 7
	b := chunk.New(o)
	in := strings.Repeat("é", 20) // 2 bytes each: a cut at 7 would split one
	got, _ := b.Write([]byte(in), t0)
	got = append(got, b.Close(t0)...)
	for _, c := range got {
		require.True(t, utf8.ValidString(c.Data))
		require.NotContains(t, c.Data, "\uFFFD")
	}
	require.Equal(t, in, concat(got))
}

func TestOverlongLinesAreTruncated(t *testing.T) {
	t.Parallel()
	o := opts()
	o.MaxLineBytes = 10
	o.MaxBytes = 12
	b := chunk.New(o)
	var got []chunk.Chunk
	c, n := b.Write([]byte("0123456789abcdef"), t0)
	got = append(got, c...)
	require.Equal(t, 1, n)
	c, n = b.Write([]byte("ghij\nok\n"), t0)
	got = append(got, c...)
	require.Zero(t, n, "one overlong line is reported once")
	got = append(got, b.Close(t0)...)
	require.Equal(t, "0123456789\nok\n", concat(got))
	// Offsets are raw: the chunk after the dropped bytes starts where they end.
	last := got[len(got)-1]
	require.Equal(t, int64(len("0123456789abcdefghij\nok\n")-len(last.Data)), last.Offset)
	st := b.Stats()
	require.Equal(t, int64(24), st.Bytes)
	require.Equal(t, int64(2), st.Lines)
	require.Equal(t, int64(1), st.Truncated)
}

func TestInvalidUTF8IsReplaced(t *testing.T) {
	t.Parallel()
	b := chunk.New(opts())
	b.Write([]byte("ok \xff\xfe end\n"), t0)
	got := b.Flush(t0)
	require.Equal(t, "ok \uFFFD end\n", got[0].Data)
}

// TestRandomStreams checks the invariants on random input: what goes in
// comes out in order, chunks are bounded and numbered without gaps, offsets
// are raw positions, and a flush never leaves something due in the past (the
// pump would spin).
func TestRandomStreams(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("abcdefghij \n\n\n")
	for round := range 200 {
		o := chunk.Options{MaxBytes: 1 + rng.IntN(300), MaxLineBytes: 1 << 20, Interval: interval}
		if round%2 == 1 {
			// The redactor holds lines back but changes none of these.
			o = redacting(o)
		}
		b := chunk.New(o)
		now := t0
		var in []byte
		var out []chunk.Chunk
		for range rng.IntN(60) {
			p := make([]byte, rng.IntN(200))
			for i := range p {
				p[i] = alphabet[rng.IntN(len(alphabet))]
			}
			in = append(in, p...)
			c, _ := b.Write(p, now)
			out = append(out, c...)
			now = now.Add(time.Duration(rng.IntN(80)) * time.Millisecond)
			out = append(out, b.Flush(now)...)
			if due, ok := b.Due(); ok {
				require.True(t, due.After(now), "round %d: something due at %v is left after a flush at %v", round, due, now)
			}
		}
		out = append(out, b.Close(now)...)
		require.Equal(t, string(in), concat(out), "round %d", round)
		var off int64
		for i, c := range out {
			require.Equal(t, int64(i+1), c.Seq)
			require.Equal(t, off, c.Offset)
			require.LessOrEqual(t, len(c.Data), o.MaxBytes)
			require.Equal(t, strings.Count(c.Data, "\n"), c.Lines)
			off += int64(len(c.Data))
		}
	}
}

func concat(cs []chunk.Chunk) string {
	var s strings.Builder
	for _, c := range cs {
		s.WriteString(c.Data)
	}
	return s.String()
}

// redacting is the runner's filter: the stream redactor.
func redacting(o chunk.Options) chunk.Options {
	r := redact.New()
	o.NewFilter = func() chunk.Filter { return r.NewStream(0) }
	return o
}

func TestAKeyWrittenInPiecesWithPausesIsRedactedWhole(t *testing.T) {
	t.Parallel()
	key := redacttest.Credentials["aws-key-id"]
	b := chunk.New(redacting(opts()))
	var got []chunk.Chunk
	now := t0
	for _, piece := range []string{"ready\nexport AWS_ACCESS_KEY_ID=", key[:8], key[8:14], key[14:], "\ndone\n"} {
		c, _ := b.Write([]byte(piece), now)
		got = append(got, c...)
		// A pause of three intervals between the pieces.
		now = now.Add(3 * interval)
		got = append(got, b.Flush(now)...)
	}
	got = append(got, b.Close(now)...)
	out := concat(got)
	require.Equal(t, "ready\nexport AWS_ACCESS_KEY_ID="+redact.Mask+"\ndone\n", out)
	require.Equal(t, "ready\n", got[0].Data, "the first line did not wait for the key")
	var off int64
	for _, c := range got {
		require.Equal(t, off, c.Offset, "offsets count the redacted stream")
		off += int64(len(c.Data))
	}
	require.Equal(t, int64(len("ready\nexport AWS_ACCESS_KEY_ID=\ndone\n")+len(key)), b.Stats().Bytes, "stats count what the agent printed")
	require.Equal(t, int64(3), b.Stats().Lines)
}

func TestAKeyAcrossASizeCutIsRedactedWhole(t *testing.T) {
	t.Parallel()
	key := redacttest.Credentials["anthropic"]
	line := `{"type":"tool_result","content":"` + key + `"}` + "\n"
	o := redacting(opts())
	o.MaxBytes = 64
	b := chunk.New(o)
	got, _ := b.Write([]byte(line), t0)
	got = append(got, b.Close(t0)...)
	require.Equal(t, `{"type":"tool_result","content":"`+redact.Mask+`"}`+"\n", concat(got))
}

func TestAPartialLineWithoutKeyIsHeldByTheFilterUntilItEnds(t *testing.T) {
	t.Parallel()
	b := chunk.New(redacting(opts()))
	b.Write([]byte("prompt> "), t0)
	require.Empty(t, b.Flush(t0.Add(10*interval)), "the filter holds the line in progress")
	b.Write([]byte("yes\r"), t0.Add(10*interval))
	got := b.Flush(t0.Add(11 * interval))
	require.Equal(t, "prompt> yes\r", concat(got), "a carriage return ends it")
}
