package command

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agentoutput"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
)

// semantics turns the agent's standard output into run.semantic events:
// it cuts the output into lines (a line longer than the chunk limit is not
// parsed; it stays in the chunks), feeds the adapter's parser, fills costs
// from the price table, redacts, and enforces the run's budget from the
// live usage. A session event is one of them: the projector makes it the
// session the run's conversation, if any, resumes next.
type semantics struct {
	x      *execution
	parser agentoutput.Parser

	// in hands output from the stdout pump to the parsing goroutine, so
	// that reading and chunking (one core) and parsing and publishing the
	// semantic events (another) overlap. Its bound is back-pressure: a full
	// queue stops the pump, whose pipe then stops the agent.
	in   chan []byte
	done chan struct{}

	line []byte
	over bool

	// usage is the latest cumulative usage per model.
	usage   map[string]events.Usage
	overrun bool
}

func newSemantics(x *execution) *semantics {
	s := &semantics{x: x, parser: agentoutput.New(x.def.Adapter), usage: map[string]events.Usage{},
		in: make(chan []byte, 32), done: make(chan struct{})}
	if m, ok := s.parser.(interface{ SetModel(string) }); ok {
		model := x.a.d.Spec.Model
		if model == "" {
			model = x.def.DefaultModel
		}
		m.SetModel(model)
	}
	if s.parser == nil {
		close(s.done)
		return s
	}
	go s.loop()
	return s
}

// write hands a piece of standard output to the parsing goroutine (called
// by the stdout pump, after it published the chunks holding it, so each
// semantic event follows its chunk in the stream).
func (s *semantics) write(p []byte) {
	if s.parser == nil {
		return
	}
	s.in <- append([]byte(nil), p...)
}

func (s *semantics) loop() {
	defer close(s.done)
	for p := range s.in {
		s.consume(p)
	}
	if !s.over && len(s.line) > 0 {
		s.emit(s.parser.Line(s.line))
	}
	s.line = s.line[:0]
	s.emit(s.parser.Flush())
}

// consume splits output into lines and parses each.
func (s *semantics) consume(p []byte) {
	limit := s.x.cfg.MaxLineBytes
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if !s.over {
			if len(s.line)+len(seg) > limit {
				s.over, s.line = true, s.line[:0]
			} else {
				s.line = append(s.line, seg...)
			}
		}
		if i < 0 {
			return
		}
		if !s.over && len(s.line) > 0 {
			s.emit(s.parser.Line(s.line))
		}
		s.line, s.over = s.line[:0], false
		p = p[i+1:]
	}
}

// flush waits for the parsing goroutine to parse everything written, a
// last line without newline included (call once the pump is over).
func (s *semantics) flush() {
	if s.parser != nil {
		close(s.in)
	}
	<-s.done
}

func (s *semantics) emit(evs []events.RunSemantic) {
	x := s.x
	d := x.a.d
	for _, ev := range evs {
		ev.RunID, ev.Attempt = d.RunID, d.Attempt
		if ev.Agent == "" || ev.Agent == agents.AdapterFake {
			ev.Agent = d.Spec.Agent
		}
		switch ev.Kind {
		case events.SemanticUsage:
			s.priceAndCheck(&ev)
		}
		ev.Text = x.red.String(ev.Text)
		if len(ev.ToolInput) > 0 {
			ev.ToolInput = redactJSON(x, ev.ToolInput)
		}
		x.appendAsync(ev)
	}
}

// redactJSON redacts a JSON value; if masking broke it, the value becomes
// a JSON string of the redacted text.
func redactJSON(x *execution, raw json.RawMessage) json.RawMessage {
	red := x.red.String(string(raw))
	if red == string(raw) {
		return raw
	}
	if json.Valid([]byte(red)) {
		return json.RawMessage(red)
	}
	b, _ := json.Marshal(red)
	return b
}

// priceAndCheck fills an estimated cost and stops the run past its budget.
func (s *semantics) priceAndCheck(ev *events.RunSemantic) {
	x := s.x
	u := ev.Usage
	if u.CostUSD == nil {
		if c, ok := x.cfg.Prices.Cost(*u, x.def.Adapter == agents.AdapterCodex); ok {
			u.CostUSD, u.CostEstimated = &c, true
		}
	}
	s.usage[u.Model] = *u
	b := x.a.d.Spec.Budget
	if b == nil || s.overrun {
		return
	}
	var cost float64
	var tokens int64
	for _, m := range s.usage {
		if m.CostUSD != nil {
			cost += *m.CostUSD
		}
		tokens += m.InputTokens + m.OutputTokens + m.ReasoningTokens
	}
	var why string
	switch {
	case b.MaxCostUSD != nil && cost > *b.MaxCostUSD:
		why = fmt.Sprintf("the run's cost reached $%.4f, over its budget of $%.4f", cost, *b.MaxCostUSD)
	case b.MaxTokens != nil && tokens > *b.MaxTokens:
		why = fmt.Sprintf("the run used %d tokens, over its budget of %d", tokens, *b.MaxTokens)
	}
	if why != "" {
		s.overrun = true
		x.log.Info("budget exceeded: stopping the agent", "why", why)
		x.a.requestStop(stop{reason: stopBudget, detail: why})
	}
}
