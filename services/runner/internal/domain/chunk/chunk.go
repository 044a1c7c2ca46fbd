// Package chunk batches one output stream of an agent into chunks: by size
// (a chunk never exceeds MaxBytes), by time (output is not held longer than
// Interval), at line boundaries when possible, with overlong lines truncated
// and invalid UTF-8 replaced. It is pure logic: the caller feeds bytes and the
// current time, and publishes the chunks it gets back.
//
// Latency and batching both matter: the first output after a quiet moment
// goes out at once (someone is watching a live run), then whatever arrives
// within Interval of a chunk is gathered into the next one (an agent printing
// thousands of lines makes a few dozen events, not thousands).
package chunk

import (
	"bytes"
	"strings"
	"time"
	"unicode/utf8"
)

// Chunk is a batch of one stream.
type Chunk struct {
	// Seq numbers the chunks of a stream from 1, without gaps.
	Seq int64
	// Offset is the byte offset of the chunk's first byte in the raw stream.
	Offset int64
	// Data is valid UTF-8.
	Data string
	// Lines is the number of complete lines (newlines) in Data.
	Lines int
}

// Options bound a Batcher.
type Options struct {
	// MaxBytes is the largest chunk.
	MaxBytes int
	// MaxLineBytes truncates longer lines (the rest of the line is dropped).
	MaxLineBytes int
	// Interval is how long output may wait to be batched.
	Interval time.Duration
	// Carry, if set, returns how many bytes at the end of p, where a chunk
	// is about to be cut inside a line, belong with what follows. Chunks
	// are redacted one by one, so the runner passes the redactor's
	// trailing token: a key cut in two would pass as two harmless halves.
	// The carried bytes open the next chunk; a partial line waits at most
	// one more Interval for the rest of its last word. Nil carries nothing.
	Carry func(p []byte) int
}

// Batcher batches one stream. It is not safe for concurrent use.
type Batcher struct {
	o Options
	// buf holds the bytes not yet emitted (after truncation).
	buf []byte
	// bufOffset is the raw offset of buf[0].
	bufOffset int64
	// drops are bytes removed by truncation, at positions in buf.
	drops []drop
	seq   int64
	// lineLen counts the kept bytes of the current line; truncating is true
	// while the rest of an overlong line is being dropped.
	lineLen    int
	truncating bool
	// lastEmit is when the last chunk went out; tailSince is when the
	// partial line at the end of buf started waiting.
	lastEmit  time.Time
	tailSince time.Time
	// carried is true when the partial line's last word was held back
	// once already: the next flush sends it whatever follows.
	carried bool

	raw, lines, truncated int64
}

type drop struct {
	pos int
	n   int64
}

// New returns a Batcher.
func New(o Options) *Batcher {
	return &Batcher{o: o, buf: make([]byte, 0, o.MaxBytes)}
}

// Stats are totals over the stream so far.
type Stats struct {
	// Bytes is the raw byte count, Lines the newline count, Chunks the chunks emitted.
	Bytes, Lines, Chunks int64
	// Truncated counts overlong lines.
	Truncated int64
}

// Stats returns the totals so far.
func (b *Batcher) Stats() Stats {
	return Stats{Bytes: b.raw, Lines: b.lines, Chunks: b.seq, Truncated: b.truncated}
}

// Write consumes p at time now. It returns the chunks that are ready and the
// number of lines that began to be truncated in p.
func (b *Batcher) Write(p []byte, now time.Time) (chunks []Chunk, truncated int) {
	sawNewline := bytes.IndexByte(p, '\n') >= 0
	for len(p) > 0 {
		seg := p
		nl := bytes.IndexByte(p, '\n')
		if nl >= 0 {
			seg = p[:nl+1]
		}
		b.raw += int64(len(seg))
		p = p[len(seg):]
		content := seg
		if nl >= 0 {
			content = seg[:len(seg)-1]
		}
		room := b.o.MaxLineBytes - b.lineLen
		if b.truncating {
			room = 0 // the rest of an overlong line goes, up to its newline
		}
		if len(content) > room {
			keep := max(room, 0)
			// Cut on a rune boundary so the kept part stays valid.
			keep -= incompleteSuffix(content[:keep])
			b.buf = append(b.buf, content[:keep]...)
			b.lineLen += keep
			b.addDrop(int64(len(content) - keep))
			if !b.truncating {
				b.truncating = true
				b.truncated++
				truncated++
			}
		} else {
			b.buf = append(b.buf, content...)
			b.lineLen += len(content)
		}
		if nl >= 0 {
			b.buf = append(b.buf, '\n')
			b.lines++
			b.lineLen = 0
			b.truncating = false
		}
		for len(b.buf) >= b.o.MaxBytes {
			chunks = append(chunks, b.emit(b.sizeCut(), now))
		}
	}
	if len(b.buf) > 0 && b.buf[len(b.buf)-1] != '\n' {
		// The tail's age runs from when this partial line began to wait.
		if sawNewline || b.tailSince.IsZero() {
			b.tailSince = now
			b.carried = false
		}
	} else {
		b.tailSince = time.Time{}
		b.carried = false
	}
	return chunks, truncated
}

func (b *Batcher) addDrop(n int64) {
	if n == 0 {
		return
	}
	if k := len(b.drops); k > 0 && b.drops[k-1].pos == len(b.buf) {
		b.drops[k-1].n += n
		return
	}
	b.drops = append(b.drops, drop{pos: len(b.buf), n: n})
}

// sizeCut is where a full buffer is cut: after its last newline within
// MaxBytes, else at MaxBytes on a rune boundary.
func (b *Batcher) sizeCut() int {
	window := b.buf[:b.o.MaxBytes]
	if i := bytes.LastIndexByte(window, '\n'); i >= 0 {
		return i + 1
	}
	cut := b.o.MaxBytes - incompleteSuffix(window)
	if cut == 0 {
		cut = b.o.MaxBytes
	}
	if k := b.carry(window[:cut]); k < cut {
		// A line made of one word longer than a chunk is cut anyway.
		cut -= k
	}
	return cut
}

// carry is how many bytes at the end of p go to the next chunk.
func (b *Batcher) carry(p []byte) int {
	if b.o.Carry == nil {
		return 0
	}
	return min(max(b.o.Carry(p), 0), len(p))
}

// Due returns when the next time-driven flush is due, if anything waits.
func (b *Batcher) Due() (time.Time, bool) {
	if len(b.buf) == 0 {
		return time.Time{}, false
	}
	due := b.lastEmit.Add(b.o.Interval)
	if bytes.IndexByte(b.buf, '\n') < 0 {
		// Only a partial line waits: give it Interval to complete.
		due = b.tailSince.Add(b.o.Interval)
	}
	return due, true
}

// Flush emits what is due at now: the complete lines once Interval has
// passed since the last chunk, and a partial line that has waited Interval.
func (b *Batcher) Flush(now time.Time) []Chunk {
	due, ok := b.Due()
	if !ok || now.Before(due) {
		return nil
	}
	cut := bytes.LastIndexByte(b.buf, '\n') + 1
	if b.tailSince.IsZero() || !now.Before(b.tailSince.Add(b.o.Interval)) {
		// The partial line has waited long enough (a prompt, a progress bar):
		// send it, but keep an incomplete rune for the next chunk, and its
		// last word once, in case it is the first half of a secret.
		cut = len(b.buf) - incompleteSuffix(b.buf)
		held := 0
		if !b.carried {
			held = b.carry(b.buf[:cut])
		}
		cut -= held
		b.tailSince = now
		b.carried = held > 0
		if cut == len(b.buf) {
			b.tailSince = time.Time{}
		}
	}
	if cut == 0 {
		return nil
	}
	return []Chunk{b.emit(cut, now)}
}

// Close emits everything left.
func (b *Batcher) Close(now time.Time) []Chunk {
	if len(b.buf) == 0 {
		return nil
	}
	return []Chunk{b.emit(len(b.buf), now)}
}

// emit cuts the first n bytes of buf into a chunk.
func (b *Batcher) emit(n int, now time.Time) Chunk {
	b.seq++
	data := b.buf[:n]
	c := Chunk{Seq: b.seq, Offset: b.bufOffset, Lines: bytes.Count(data, []byte{'\n'})}
	if utf8.Valid(data) {
		c.Data = string(data)
	} else {
		c.Data = strings.ToValidUTF8(string(data), "\uFFFD")
	}
	// The raw offset moves past the emitted bytes and what was dropped
	// among them (a drop at n sits between this chunk and the next).
	var dropped int64
	k := 0
	for ; k < len(b.drops) && b.drops[k].pos <= n; k++ {
		dropped += b.drops[k].n
	}
	b.drops = b.drops[k:]
	for i := range b.drops {
		b.drops[i].pos -= n
	}
	b.bufOffset += int64(n) + dropped
	rest := copy(b.buf, b.buf[n:])
	b.buf = b.buf[:rest]
	b.lastEmit = now
	return c
}

// incompleteSuffix returns how many bytes at the end of p start a multi-byte
// rune that is not complete yet.
func incompleteSuffix(p []byte) int {
	for i := 1; i <= 3 && i <= len(p); i++ {
		c := p[len(p)-i]
		if c&0xC0 == 0x80 {
			continue // a continuation byte: look further back
		}
		if c >= 0xC0 && !utf8.FullRune(p[len(p)-i:]) {
			return i
		}
		return 0
	}
	return 0
}
