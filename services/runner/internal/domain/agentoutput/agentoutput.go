// Package agentoutput reads what an agent CLI prints on standard output:
// it turns the lines into Phantom's semantic events, with one parser per
// output dialect (an agent's adapter: Claude Code's and the fake agent's
// stream-json, Codex's exec --json, Gemini CLI's stream-json), sums up how
// the agent ended (Outcome) and classifies its exit (Classify).
//
// Parsers are pure and defensive: a line that is not JSON, an unknown event
// type or a field of an unexpected shape yields nothing (the raw line stays
// in the chunk events) and never stops the run. Each parser is fuzzed.
//
// Usage events carry the attempt's cumulative totals per model (each one
// replaces the previous for its model), so that a consumer folds them by
// keeping the latest and a budget reads the running total directly.
package agentoutput

import (
	"encoding/json"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/phantom-run/phantom/contracts/events"
)

// decodeOptions make the faster decoder (json v2, the proposal's reference
// implementation; parsing agent lines was the runner's largest cost with
// encoding/json) as lenient as encoding/json: agents print what they print,
// and a repeated key or a stray invalid UTF-8 byte must not lose a line.
var decodeOptions = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
)

// decode parses one JSON value into v.
func decode(data []byte, v any) error { return jsonv2.Unmarshal(data, v, decodeOptions) }

// Parser reads one attempt's standard output, line by line.
type Parser interface {
	// Line parses one complete line (without its newline) and returns the
	// semantic events it holds (RunID and Attempt left for the caller).
	Line(line []byte) []events.RunSemantic
	// Flush returns what the parser still holds (at the end of the output).
	Flush() []events.RunSemantic
	// Outcome sums up what was parsed so far.
	Outcome() Outcome
}

// Outcome is how the agent ended, as far as its output tells.
type Outcome struct {
	// SessionID is the provider's session (thread) id, for resume.
	SessionID string
	// Result is the final answer; HasResult is true once one was printed.
	Result    string
	HasResult bool
	// IsError is true when the agent reported failure.
	IsError bool
	// Subtype is the agent's own kind of ending (Claude's result subtype, Gemini's status).
	Subtype string
	// APIStatus is the HTTP status of a failed model API call, if one was reported.
	APIStatus int
	// APIError: the failure came from the model API (its status may be unknown).
	APIError bool
	// ErrorText is the last error the agent reported.
	ErrorText string
	// MaxTurns: the agent stopped at its turn limit.
	MaxTurns bool
	// ResumeInvalid: the provider session asked to resume does not exist.
	ResumeInvalid bool
	// Turns counts the results (an interactive agent prints one per turn).
	Turns int
}

// New returns the parser of an adapter ("claude", "fake", "codex",
// "gemini"), or nil for one that does not parse ("raw").
func New(adapter string) Parser {
	switch adapter {
	case "claude", "fake":
		return newClaude(adapter)
	case "codex":
		return newCodex()
	case "gemini":
		return newGemini()
	}
	return nil
}

// usageBook keeps cumulative usage per model.
type usageBook struct {
	agent  string
	models map[string]*events.Usage
	order  []string
}

func newUsageBook(agent string) *usageBook {
	return &usageBook{agent: agent, models: map[string]*events.Usage{}}
}

func (b *usageBook) get(model string) *events.Usage {
	model = NormalizeModel(model)
	u, ok := b.models[model]
	if !ok {
		u = &events.Usage{Model: model}
		b.models[model] = u
		b.order = append(b.order, model)
	}
	return u
}

// event renders the current totals of one model.
func (b *usageBook) event(model string) events.RunSemantic {
	u := *b.get(model)
	if u.CostUSD != nil {
		c := *u.CostUSD
		u.CostUSD = &c
	}
	return events.RunSemantic{Kind: events.SemanticUsage, Agent: b.agent, Model: u.Model, Usage: &u}
}

// NormalizeModel drops decorations a CLI adds to a model name in some
// places and not others (Claude's "[1m]" context marker).
func NormalizeModel(m string) string {
	if i := strings.IndexByte(m, '['); i > 0 {
		m = m[:i]
	}
	return strings.TrimSpace(m)
}

// rawJSON returns v when it is a JSON value worth keeping, else nil.
func rawJSON(v json.RawMessage) json.RawMessage {
	t := strings.TrimSpace(string(v))
	if t == "" || t == "null" || !json.Valid(v) {
		return nil
	}
	return append(json.RawMessage(nil), v...)
}

// contentText reads tool result content: a string, or a list of blocks
// whose text parts are joined.
func contentText(raw json.RawMessage) string {
	var s string
	if decode(raw, &s) == nil {
		return s
	}
	var blocks []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if decode(raw, &blocks) == nil {
		var parts []string
		for _, b := range blocks {
			if b.Text != "" {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return ""
}

// apiErrorIn reports whether an error message is a model API's error: an
// HTTP status, an "API Error", or a provider's JSON error body.
func apiErrorIn(msg string) bool {
	t := strings.TrimSpace(msg)
	return apiStatusIn(t) != 0 || strings.Contains(t, "API Error") || strings.Contains(t, "unexpected status") ||
		(strings.HasPrefix(t, "{") && strings.Contains(t, `"error"`))
}

// apiStatusIn finds an HTTP error status in an error message such as
// "unexpected status 401 Unauthorized" or "API Error: 400 ...".
func apiStatusIn(msg string) int {
	for _, marker := range []string{"status ", "API Error: ", "status: ", "HTTP ", "code ", `"code":`, `"status":`} {
		i := strings.Index(msg, marker)
		for i >= 0 {
			rest := msg[i+len(marker):]
			if n := leadingStatus(rest); n != 0 {
				return n
			}
			j := strings.Index(rest, marker)
			if j < 0 {
				break
			}
			i += len(marker) + j
		}
	}
	if n := leadingStatus(strings.TrimSpace(msg)); n != 0 {
		return n
	}
	return 0
}

func leadingStatus(s string) int {
	if len(s) < 3 {
		return 0
	}
	n := 0
	for i := 0; i < 3; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	if len(s) > 3 && s[3] >= '0' && s[3] <= '9' {
		return 0
	}
	if n < 400 || n > 599 {
		return 0
	}
	return n
}
