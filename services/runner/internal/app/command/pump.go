package command

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
)

// maxTruncationWarnings bounds the run.warning events of one stream.
const maxTruncationWarnings = 10

// pump reads one output pipe of the agent and appends it as chunk events.
type pump struct {
	x       *execution
	f       Pipe
	stream  string
	batcher *chunk.Batcher
	// onData sees every byte read (the parser of standard output).
	onData func([]byte)
	// last keeps the stream's last complete line (why the agent failed).
	last     *lastLine
	warnings int
}

func newPump(x *execution, f Pipe, stream string, b *chunk.Batcher, onData func([]byte)) *pump {
	// The last line of each stream is kept: stderr says why an agent
	// failed, and either may carry a quota refusal (see quotaFailure).
	return &pump{x: x, f: f, stream: stream, batcher: b, onData: onData, last: &lastLine{max: 64 << 10}}
}

// run reads until the pipe ends (or is abandoned). The read deadline is the
// batcher's next flush, so one goroutine both reads and flushes on time.
func (p *pump) run() {
	defer p.f.Close()
	buf := make([]byte, 32<<10)
	for {
		if due, ok := p.batcher.Due(); ok {
			_ = p.f.SetReadDeadline(due)
		} else {
			_ = p.f.SetReadDeadline(time.Time{})
		}
		n, err := p.f.Read(buf)
		now := time.Now()
		if n > 0 {
			if p.last != nil {
				p.last.write(buf[:n])
			}
			chunks, truncated := p.batcher.Write(buf[:n], now)
			p.publish(chunks)
			p.warnTruncated(truncated)
			if p.onData != nil {
				// After the chunks: the raw output is in the log before what was parsed from it.
				p.onData(buf[:n])
			}
		}
		p.publish(p.batcher.Flush(now))
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue
			}
			// EOF, or the pipe was abandoned: what is left goes out.
			p.publish(p.batcher.Close(now))
			return
		}
	}
}

// abandon ends run's reading (a process outside the agent's group holds the pipe).
func (p *pump) abandon() { _ = p.f.Close() }

func (p *pump) publish(chunks []chunk.Chunk) {
	x := p.x
	d := x.a.d
	for _, c := range chunks {
		// The batcher's filter redacted the stream before it was cut into chunks.
		rc := events.RunChunk{RunID: d.RunID, Attempt: d.Attempt, Seq: c.Seq, Offset: c.Offset, Data: c.Data, Lines: c.Lines}
		var ev events.Payload = events.RunChunkStdout{RunChunk: rc}
		if p.stream == "stderr" {
			ev = events.RunChunkStderr{RunChunk: rc}
		}
		if err := x.app.Append(x.ctx, ev, x.opt); err != nil {
			x.log.Error("could not append output", "stream", p.stream, "seq", c.Seq, "error", err)
			continue
		}
		x.metrics.chunks.WithLabelValues(p.stream).Inc()
		x.metrics.bytes.WithLabelValues(p.stream).Add(float64(len(c.Data)))
	}
}

func (p *pump) warnTruncated(n int) {
	d := p.x.a.d
	for range n {
		p.warnings++
		msg := fmt.Sprintf("a line of %s longer than %d bytes was truncated", p.stream, p.x.cfg.MaxLineBytes)
		switch {
		case p.warnings > maxTruncationWarnings:
			return
		case p.warnings == maxTruncationWarnings:
			msg += "; further truncations of this stream are not reported"
		}
		if err := p.x.app.Append(p.x.ctx, events.RunWarning{RunID: d.RunID, Attempt: d.Attempt, Code: "line_truncated", Message: msg}, p.x.opt); err != nil {
			p.x.log.Error("could not append a warning", "error", err)
		}
	}
}

// lastLine returns the last complete non-empty line read, or the partial
// one after it (call after run).
func (p *pump) lastLine() string {
	if p.last == nil {
		return ""
	}
	if len(bytes.TrimSpace(p.last.cur)) > 0 && !p.last.over {
		return string(p.last.cur)
	}
	return string(p.last.last)
}

// lastLine tracks the last complete, non-empty line of a stream, if it is
// not longer than max.
type lastLine struct {
	max  int
	cur  []byte
	over bool
	last []byte
}

func (l *lastLine) write(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !l.over {
			if len(l.cur)+len(seg) > l.max {
				l.over, l.cur = true, l.cur[:0]
			} else {
				l.cur = append(l.cur, seg...)
			}
		}
		if i < 0 {
			return
		}
		if !l.over && len(bytes.TrimSpace(l.cur)) > 0 {
			l.last = append(l.last[:0], l.cur...)
		}
		l.cur, l.over = l.cur[:0], false
		p = p[i+1:]
	}
}
