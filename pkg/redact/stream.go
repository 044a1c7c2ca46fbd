package redact

import "bytes"

// DefaultHold is how much of a line a Stream holds back at most: 64 KiB.
const DefaultHold = 64 << 10

// contextBytes is how much of a long line's released pieces the next piece
// is judged with (a `password: ` before the cut, the value after it).
const contextBytes = 512

// maxKeyBody bounds what a private key block drops after its BEGIN line
// when no END comes: past it, lines are judged one by one again.
const maxKeyBody = 64 << 10

// Stream redacts one output stream (an agent's standard output, say) as it
// is written, so that a secret is redacted whole however it was cut into
// writes, pauses and chunks.
//
// It releases text a line at a time: a line ('\n' or '\r' ends one, so a
// progress bar still moves) is judged when it is complete and goes out at
// once; the line in progress is held back. That is the bound: at most one
// partial line, and at most hold bytes of it (DefaultHold). A longer line is
// judged in pieces of at most hold bytes, cut after the last blank (else
// after the last quote or separator) of its first hold bytes, each judged
// with the end of the piece before it as context. Where every cut falls
// depends only on the text, never on how it was written, so any split of
// the input gives the same output as the whole (a word longer than hold is
// the only secret a cut can split, and it is judged in hold-sized parts).
//
// The cost is latency for text without a newline: a prompt that waits for
// an answer is not shown until its line ends (or hold bytes of it are
// there, or the stream closes). Complete lines wait for nothing.
//
// A private key is masked from its BEGIN line to its END line: the BEGIN
// line goes out at once as Mask, the body lines after it are dropped, and
// the END line is dropped through its marker. A BEGIN without an END drops
// the body lines that follow it up to the first line that cannot be part of
// a key (not base64, not a header), or up to 64 KiB of them.
//
// A Stream is not safe for concurrent use.
type Stream struct {
	r    *Redactor
	hold int

	// line is the part of the current line not released yet.
	line []byte
	// ctx is the end of the current line's released pieces.
	ctx []byte
	// inKey is true after a private key's BEGIN line until its END;
	// keyBody counts what was dropped of it.
	inKey   bool
	keyBody int

	out    []byte
	joined []byte
	sc     scratch
	// changed is true once something was masked or dropped.
	changed bool

	taken, released int64
}

// NewStream returns a stream that holds back at most hold bytes (<= 0:
// DefaultHold).
func (r *Redactor) NewStream(hold int) *Stream {
	if hold <= 0 {
		hold = DefaultHold
	}
	return &Stream{r: r, hold: hold}
}

// Write takes the next bytes of the stream and returns the redacted text
// that is final now (valid until the next call).
func (s *Stream) Write(p []byte) []byte {
	s.out = s.out[:0]
	s.write(p)
	return s.out
}

// Close returns the rest: the line in progress, judged as it is.
func (s *Stream) Close() []byte {
	s.out = s.out[:0]
	s.close()
	return s.out
}

// Released is how many bytes of the input the output so far stands for.
func (s *Stream) Released() int64 { return s.released }

func (s *Stream) write(p []byte) {
	s.taken += int64(len(p))
	// cr is where the next '\r' is in p (-1: none), looked for again only
	// once it is passed, so that the scan stays linear.
	cr := bytes.IndexByte(p, '\r')
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if cr >= 0 && (i < 0 || cr < i) {
			i = cr
		}
		if i < 0 {
			s.line = append(s.line, p...)
			s.cutLong()
			break
		}
		seg := p[:i+1]
		p = p[i+1:]
		if cr == i {
			cr = bytes.IndexByte(p, '\r')
		} else if cr >= 0 {
			cr -= i + 1
		}
		if len(s.line) > 0 {
			s.line = append(s.line, seg...)
			s.endLine(s.line)
			s.line = s.line[:0]
		} else {
			s.endLine(seg)
		}
	}
	s.released = s.taken - int64(len(s.line))
}

func (s *Stream) close() {
	if len(s.line) > 0 {
		s.endLine(s.line)
		s.line = s.line[:0]
	}
	s.inKey, s.keyBody = false, 0
	s.released = s.taken
}

// cutLong releases the held line's leading pieces while it is hold bytes
// or longer.
func (s *Stream) cutLong() {
	for len(s.line) >= s.hold {
		n := cutAt(s.line[:s.hold])
		s.piece(s.line[:n], false)
		s.line = s.line[:copy(s.line, s.line[n:])]
	}
}

// endLine releases a complete line (with its terminator, if any): first
// its leading pieces while what is left of it is hold bytes or longer,
// exactly as cutLong would have, then the rest.
func (s *Stream) endLine(line []byte) {
	content := trimEOL(line)
	for len(content) >= s.hold {
		n := cutAt(content[:s.hold])
		s.piece(line[:n], false)
		line, content = line[n:], content[n:]
	}
	s.piece(line, true)
}

// cutAt is where a piece of a long line ends: after the last blank, else
// after the last byte that cannot be in a secret, else at the end.
func cutAt(w []byte) int {
	if i := bytes.LastIndexAny(w, " \t"); i >= 0 {
		return i + 1
	}
	for i := len(w) - 1; i >= 0; i-- {
		if !runChars[w[i]] {
			return i + 1
		}
	}
	return len(w)
}

// piece judges and releases a piece of a line; last is true when it ends
// the line.
func (s *Stream) piece(b []byte, last bool) {
	if s.inKey {
		end := endMarker(b)
		switch {
		case end >= 0:
			s.inKey, s.changed = false, true
			b = b[end:]
			s.ctx = s.ctx[:0]
			if len(trimEOL(b)) == 0 {
				return
			}
		case bodyLike(b) && s.keyBody+len(b) <= maxKeyBody:
			s.keyBody += len(b)
			s.changed = true
			if last {
				s.ctx = s.ctx[:0]
			}
			return
		default:
			s.inKey = false
		}
	}
	buf, from := b, 0
	if len(s.ctx) > 0 {
		s.joined = append(append(s.joined[:0], s.ctx...), b...)
		buf, from = s.joined, len(s.ctx)
	}
	spans, open := s.r.scan(buf, from, &s.sc)
	at := from
	for _, sp := range spans {
		s.out = append(s.out, buf[at:sp.start]...)
		s.out = append(s.out, Mask...)
		at = sp.end
	}
	s.out = append(s.out, buf[at:]...)
	if len(spans) > 0 {
		s.changed = true
	}
	if open {
		s.inKey, s.keyBody = true, 0
	}
	if last {
		s.ctx = s.ctx[:0]
	} else {
		s.ctx = append(s.ctx[:0], buf[max(0, len(buf)-contextBytes):]...)
	}
}
