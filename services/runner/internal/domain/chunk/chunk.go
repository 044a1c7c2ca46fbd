// Package chunk batches one output stream of an agent into chunks: by size
// (a chunk never exceeds MaxBytes), by time (output is not held longer than
// Interval), at line boundaries when possible, with overlong lines truncated
// and invalid UTF-8 replaced. It is pure logic: the caller feeds bytes and the
// current time, and publishes the chunks it gets back. A Filter (the runner's
// redaction) may see the stream before it is batched.
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
	// Offset is the byte offset of the chunk's first byte in the stream as
	// the Filter passed it on (the whole stream without a Filter), the
	// bytes dropped from overlong lines counted.
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
	// NewFilter, if set, makes the stage the stream goes through before it
	// is batched, one per Batcher.
	NewFilter func() Filter
}

// Filter transforms a stream as it is written, holding back what it
// cannot judge yet (the runner's redaction, pkg/redact.Stream).
type Filter interface {
	// Write takes the next bytes and returns what is final now (valid
	// until the next call).
	Write(p []byte) []byte
	// Close returns the rest.
	Close() []byte
}

// Batcher batches one stream. It is not safe for concurrent use.
type Batcher struct {
	o Options
	// buf holds the bytes not yet emitted (after truncation).
	buf []byte
	// bufOffset is the offset of buf[0] in the stream the filter passed on.
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

	filter Filter

	raw, lines, truncated int64
}

type drop struct {
	pos int
	n   int64
}

// New returns a Batcher.
func New(o Options) *Batcher {
	b := &Batcher{o: o, buf: make([]byte, 0, o.MaxBytes)}
	if o.NewFilter != nil {
		b.filter = o.NewFilter()
	}
	return b
}

// Stats are totals over the stream so far.
type Stats struct {
	// Bytes is the raw byte count, Lines its newline count (before the
	// filter), Chunks the chunks emitted.
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
	b.raw += int64(len(p))
	b.lines += int64(bytes.Count(p, []byte{'\n'}))
	if b.filter != nil {
		p = b.filter.Write(p)
	}
	return b.write(p, now)
}

func (b *Batcher) write(p []byte, now time.Time) (chunks []Chunk, truncated int) {
	sawNewline := bytes.IndexByte(p, '\n') >= 0
	for len(p) > 0 {
		seg := p
		nl := bytes.IndexByte(p, '\n')
		if nl >= 0 {
			seg = p[:nl+1]
		}
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
		}
	} else {
		b.tailSince = time.Time{}
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
	return cut
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
		// send it, but keep an incomplete rune for the next chunk.
		cut = len(b.buf) - incompleteSuffix(b.buf)
		b.tailSince = now
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
	var chunks []Chunk
	if b.filter != nil {
		// What the filter held back goes out now, through the same cuts.
		chunks, _ = b.write(b.filter.Close(), now)
	}
	if len(b.buf) == 0 {
		return chunks
	}
	return append(chunks, b.emit(len(b.buf), now))
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
