package agentoutput

import (
	"encoding/json"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/phantom-run/phantom/contracts/events"
)

// claude parses Claude Code's `--output-format stream-json --verbose`
// (and the fake agent, which prints the same).
type claude struct {
	agent   string
	out     Outcome
	usage   *usageBook
	seenMsg map[string]bool
	// sessions are the session ids already reported.
	sessions map[string]bool
	// reported is true once a result gave authoritative totals: later
	// assistant messages (the next interactive turn) add to them.
	reported bool
}

func newClaude(agent string) *claude {
	return &claude{agent: agent, usage: newUsageBook(agent), seenMsg: map[string]bool{}, sessions: map[string]bool{}}
}

type claudeLine struct {
	Type      string          `json:"type"`
	Subtype   string          `json:"subtype"`
	SessionID string          `json:"session_id"`
	Model     string          `json:"model"`
	Message   *claudeMessage  `json:"message"`
	Error     json.RawMessage `json:"error"`
	// result
	IsError       bool            `json:"is_error"`
	APIErrorState json.RawMessage `json:"api_error_status"`
	Result        string          `json:"result"`
	NumTurns      int             `json:"num_turns"`
	TotalCostUSD  *float64        `json:"total_cost_usd"`
	Usage         *claudeUsage    `json:"usage"`
	ModelUsage    map[string]struct {
		InputTokens              int64    `json:"inputTokens"`
		OutputTokens             int64    `json:"outputTokens"`
		CacheReadInputTokens     int64    `json:"cacheReadInputTokens"`
		CacheCreationInputTokens int64    `json:"cacheCreationInputTokens"`
		CostUSD                  *float64 `json:"costUSD"`
	} `json:"modelUsage"`
	Errors         []string `json:"errors"`
	TerminalReason string   `json:"terminal_reason"`
	// system/api_retry
	Attempt     int             `json:"attempt"`
	MaxRetries  int             `json:"max_retries"`
	ErrorStatus json.RawMessage `json:"error_status"`
}

type claudeUsage struct {
	InputTokens              int64 `json:"input_tokens"`
	OutputTokens             int64 `json:"output_tokens"`
	CacheReadInputTokens     int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens int64 `json:"cache_creation_input_tokens"`
}

type claudeMessage struct {
	ID      string        `json:"id"`
	Role    string        `json:"role"`
	Model   string        `json:"model"`
	Content claudeContent `json:"content"`
	Usage   *claudeUsage  `json:"usage"`
}

// claudeContent is a message's content: a string or a list of blocks. It
// is decoded in the same pass as the line (the parser's main cost).
type claudeContent struct {
	Text   string
	IsText bool
	Blocks []claudeBlock
}

// UnmarshalJSONFrom decodes content of either shape in the line's own pass;
// content of another shape is left empty.
func (c *claudeContent) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case '"':
		c.IsText = true
		return jsonv2.UnmarshalDecode(dec, &c.Text)
	case '[':
		return jsonv2.UnmarshalDecode(dec, &c.Blocks)
	}
	return dec.SkipValue()
}

type claudeBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	IsError   bool            `json:"is_error"`
}

func (c *claude) Flush() []events.RunSemantic { return nil }
func (c *claude) Outcome() Outcome            { return c.out }

func (c *claude) Line(line []byte) []events.RunSemantic {
	var l claudeLine
	if len(line) == 0 || line[0] != '{' || decode(line, &l) != nil {
		return nil
	}
	switch l.Type {
	case "system":
		return c.system(l)
	case "assistant":
		return c.assistant(l)
	case "user":
		return c.user(l)
	case "result":
		return c.result(l)
	}
	return nil
}

func (c *claude) session(id, model string) []events.RunSemantic {
	if id == "" || c.sessions[id] {
		return nil
	}
	c.sessions[id] = true
	c.out.SessionID = id
	return []events.RunSemantic{{Kind: events.SemanticSession, Agent: c.agent, SessionID: id, Model: NormalizeModel(model)}}
}

func (c *claude) system(l claudeLine) []events.RunSemantic {
	switch l.Subtype {
	case "init":
		return c.session(l.SessionID, l.Model)
	case "api_retry":
		status := jsonInt(l.ErrorStatus)
		msg := jsonString(l.Error)
		if status != 0 {
			c.out.APIStatus = status
		}
		return []events.RunSemantic{{Kind: events.SemanticError, Agent: c.agent, Subtype: "api_retry",
			Text: strings.TrimSpace("API retry " + itoa(l.Attempt) + "/" + itoa(l.MaxRetries) + ": " + statusText(status) + " " + msg)}}
	}
	return nil
}

func (c *claude) assistant(l claudeLine) []events.RunSemantic {
	if l.Message == nil {
		return nil
	}
	m := *l.Message
	out := c.session(l.SessionID, "")
	blocks := m.Content.Blocks
	model := NormalizeModel(m.Model)
	synthetic := m.Model == "<synthetic>"
	for _, b := range blocks {
		switch b.Type {
		case "text":
			kind := events.SemanticMessage
			if synthetic && len(l.Error) > 0 {
				// Claude Code reports an API failure as a synthetic message.
				kind = events.SemanticError
				c.out.ErrorText = b.Text
				c.out.IsError = true
				c.out.APIError = true
				if s := apiStatusIn(b.Text); s != 0 {
					c.out.APIStatus = s
				}
			}
			out = append(out, events.RunSemantic{Kind: kind, Agent: c.agent, MessageID: m.ID, Role: "assistant", Text: b.Text, Model: model,
				Subtype: jsonString(l.Error)})
		case "thinking", "redacted_thinking":
			out = append(out, events.RunSemantic{Kind: events.SemanticThinking, Agent: c.agent, MessageID: m.ID, Role: "assistant", Text: b.Thinking, Model: model})
		case "tool_use", "server_tool_use":
			out = append(out, events.RunSemantic{Kind: events.SemanticToolUse, Agent: c.agent, MessageID: m.ID, Role: "assistant",
				ToolUseID: b.ID, ToolName: b.Name, ToolInput: rawJSON(b.Input), Model: model})
		}
	}
	// One message's usage is repeated on each of its blocks: count it once.
	if m.Usage != nil && m.ID != "" && !synthetic && !c.seenMsg[m.ID] {
		c.seenMsg[m.ID] = true
		u := c.usage.get(model)
		u.InputTokens += m.Usage.InputTokens
		u.OutputTokens += m.Usage.OutputTokens
		u.CacheReadTokens += m.Usage.CacheReadInputTokens
		u.CacheCreationTokens += m.Usage.CacheCreationInputTokens
		if c.reported {
			// The cost Claude reported covers what came before; this turn's is unknown until its result.
			u.CostUSD = nil
		}
		out = append(out, c.usage.event(model))
	}
	return out
}

func (c *claude) user(l claudeLine) []events.RunSemantic {
	if l.Message == nil {
		return nil
	}
	m := *l.Message
	out := c.session(l.SessionID, "")
	if m.Content.IsText {
		return append(out, events.RunSemantic{Kind: events.SemanticMessage, Agent: c.agent, Role: "user", Text: m.Content.Text})
	}
	blocks := m.Content.Blocks
	var texts []string
	for _, b := range blocks {
		switch b.Type {
		case "tool_result":
			out = append(out, events.RunSemantic{Kind: events.SemanticToolResult, Agent: c.agent, Role: "user", ToolUseID: b.ToolUseID,
				Text: contentText(b.Content), IsError: b.IsError})
		case "text":
			texts = append(texts, b.Text)
		}
	}
	if len(texts) > 0 {
		out = append(out, events.RunSemantic{Kind: events.SemanticMessage, Agent: c.agent, Role: "user", Text: strings.Join(texts, "\n")})
	}
	return out
}

func (c *claude) result(l claudeLine) []events.RunSemantic {
	out := c.session(l.SessionID, "")
	c.out.Turns++
	c.out.HasResult = true
	c.out.Result = l.Result
	c.out.IsError = l.IsError
	c.out.Subtype = l.Subtype
	if s := jsonInt(l.APIErrorState); s != 0 {
		c.out.APIStatus = s
	} else if !l.IsError {
		c.out.APIStatus = 0
	}
	c.out.MaxTurns = l.Subtype == "error_max_turns" || l.TerminalReason == "max_turns"
	if l.IsError {
		msg := l.Result
		if len(l.Errors) > 0 {
			msg = strings.Join(l.Errors, "; ")
		}
		if msg != "" {
			c.out.ErrorText = msg
		}
		for _, e := range l.Errors {
			if strings.Contains(e, "No conversation found") {
				c.out.ResumeInvalid = true
			}
		}
	} else {
		c.out.ErrorText = ""
	}
	// The result's totals are authoritative and cumulative over the session's turns.
	if len(l.ModelUsage) > 0 {
		c.reported = true
		for _, model := range sortedModelKeys(l.ModelUsage) {
			mu := l.ModelUsage[model]
			u := c.usage.get(model)
			u.InputTokens, u.OutputTokens = mu.InputTokens, mu.OutputTokens
			u.CacheReadTokens, u.CacheCreationTokens = mu.CacheReadInputTokens, mu.CacheCreationInputTokens
			u.CostUSD, u.CostEstimated = copyFloat(mu.CostUSD), false
			out = append(out, c.usage.event(model))
		}
	}
	out = append(out, events.RunSemantic{Kind: events.SemanticResult, Agent: c.agent, Text: l.Result, IsError: l.IsError,
		Subtype: l.Subtype, SessionID: l.SessionID})
	return out
}

func sortedModelKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

func copyFloat(f *float64) *float64 {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

func jsonInt(raw json.RawMessage) int {
	var n float64
	if decode(raw, &n) == nil {
		return int(n)
	}
	return 0
}

func jsonString(raw json.RawMessage) string {
	var s string
	if decode(raw, &s) == nil {
		return s
	}
	return ""
}

func statusText(n int) string {
	if n == 0 {
		return ""
	}
	return "HTTP " + itoa(n)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
