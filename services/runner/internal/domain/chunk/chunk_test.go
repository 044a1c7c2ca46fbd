package chunk_test

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/redact"
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
			o.Carry = redact.TokenTail
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

// key is a secret the redactor knows by its format.
const key = "sk-ant-api03-Xk2f9QmZr7LpT4vB8nW1cY6dH3jK0sA5eU9iO2pG7qR4tV"

func carrying(maxBytes int) chunk.Options {
	o := opts()
	o.MaxBytes = maxBytes
	o.Carry = redact.TokenTail
	return o
}

// redacted is the stream as a reader sees it: each chunk redacted alone.
func redacted(chunks []chunk.Chunk) string {
	r := redact.New()
	var out strings.Builder
	for _, c := range chunks {
		out.WriteString(r.String(c.Data))
	}
	return out.String()
}

func TestASizeCutCarriesTheWordItWouldSplit(t *testing.T) {
	t.Parallel()
	line := `{"type":"tool_result","content":"` + key + `"}` + "\n"
	// Without Carry the cut at 64 bytes splits the key and neither half is
	// recognised.
	plain := opts()
	plain.MaxBytes = 64
	b := chunk.New(plain)
	got, _ := b.Write([]byte(line), t0)
	got = append(got, b.Close(t0)...)
	require.Contains(t, redacted(got), key[64-33:], "the premise: the second half of a split key leaks")

	b = chunk.New(carrying(64))
	got, _ = b.Write([]byte(line), t0)
	got = append(got, b.Close(t0)...)
	require.Len(t, got, 2)
	require.Equal(t, `{"type":"tool_result","content":"`, got[0].Data, "the cut moved back to before the key")
	require.Equal(t, int64(len(got[0].Data)), got[1].Offset)
	require.Equal(t, line, got[0].Data+got[1].Data)
	require.Equal(t, `{"type":"tool_result","content":"[REDACTED]"}`+"\n", redacted(got))
}

func TestALineThatIsOneLongWordIsStillCut(t *testing.T) {
	t.Parallel()
	b := chunk.New(carrying(64))
	word := strings.Repeat("a", 100)
	got, _ := b.Write([]byte(word+"\n"), t0)
	require.Len(t, got, 1)
	require.Equal(t, word[:64], got[0].Data)
}

func TestAPartialLineHoldsItsLastWordOneMoreInterval(t *testing.T) {
	t.Parallel()
	b := chunk.New(carrying(32 << 10))
	// The agent prints half a key and pauses past the interval.
	b.Write([]byte("export KEY="+key[:20]), t0)
	require.Empty(t, b.Flush(t0.Add(interval-time.Millisecond)))
	got := b.Flush(t0.Add(interval))
	require.Equal(t, []chunk.Chunk{{Seq: 1, Offset: 0, Data: "export "}}, got, "the word at the end waits")
	due, ok := b.Due()
	require.True(t, ok)
	require.Equal(t, t0.Add(2*interval), due)
	// The rest comes within that interval: the key goes out whole.
	b.Write([]byte(key[20:]+"\n"), t0.Add(60*time.Millisecond))
	got = append(got, b.Flush(t0.Add(2*interval))...)
	require.Equal(t, "export KEY=[REDACTED]\n", redacted(got))

	// A prompt that ends in a word is not held twice.
	b = chunk.New(carrying(32 << 10))
	b.Write([]byte("Continue? yes"), t0)
	require.Equal(t, "Continue? ", b.Flush(t0.Add(interval))[0].Data)
	b.Write([]byte("/no"), t0.Add(70*time.Millisecond))
	require.Equal(t, []chunk.Chunk{{Seq: 2, Offset: 10, Data: "yes/no"}}, b.Flush(t0.Add(2*interval)))
	_, ok = b.Due()
	require.False(t, ok)

	// A partial line that is one word waits once, then goes.
	b = chunk.New(carrying(32 << 10))
	b.Write([]byte("Password"), t0)
	require.Empty(t, b.Flush(t0.Add(interval)))
	require.Equal(t, []chunk.Chunk{{Seq: 1, Offset: 0, Data: "Password"}}, b.Flush(t0.Add(2*interval)))
}
