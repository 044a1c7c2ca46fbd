package agentoutput

import (
	"encoding/json"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
)

// gemini parses `gemini -p ... -o stream-json`. Assistant text arrives in
// deltas; consecutive deltas are gathered into one message, emitted when
// something else comes (a tool call, the result) or at the end.
type gemini struct {
	out     Outcome
	usage   *usageBook
	model   string
	pending strings.Builder
	turn    strings.Builder
	msgSeq  int
	tools   map[string]string
}

func newGemini() *gemini {
	return &gemini{usage: newUsageBook("gemini"), tools: map[string]string{}}
}

type geminiLine struct {
	Type       string          `json:"type"`
	SessionID  string          `json:"session_id"`
	Model      string          `json:"model"`
	Role       string          `json:"role"`
	Content    string          `json:"content"`
	Delta      bool            `json:"delta"`
	ToolName   string          `json:"tool_name"`
	ToolID     string          `json:"tool_id"`
	Parameters json.RawMessage `json:"parameters"`
	Status     string          `json:"status"`
	Output     json.RawMessage `json:"output"`
	Error      json.RawMessage `json:"error"`
	Message    string          `json:"message"`
	Severity   string          `json:"severity"`
	Stats      *struct {
		Models map[string]struct {
			InputTokens  int64 `json:"input_tokens"`
			OutputTokens int64 `json:"output_tokens"`
			Cached       int64 `json:"cached"`
		} `json:"models"`
	} `json:"stats"`
}

func (g *gemini) Outcome() Outcome { return g.out }

func (g *gemini) Flush() []events.RunSemantic { return g.flushText() }

func (g *gemini) flushText() []events.RunSemantic {
	if g.pending.Len() == 0 {
		return nil
	}
	g.msgSeq++
	text := g.pending.String()
	g.pending.Reset()
	return []events.RunSemantic{{Kind: events.SemanticMessage, Agent: "gemini", MessageID: "gemini-msg-" + itoa(g.msgSeq),
		Role: "assistant", Text: text, Model: g.model}}
}

func (g *gemini) Line(line []byte) []events.RunSemantic {
	var l geminiLine
	if len(line) == 0 || line[0] != '{' || decode(line, &l) != nil {
		return nil
	}
	if l.Type == "message" && l.Role == "assistant" {
		g.pending.WriteString(l.Content)
		g.turn.WriteString(l.Content)
		return nil
	}
	out := g.flushText()
	switch l.Type {
	case "init":
		if l.Model != "" && l.Model != "auto" {
			g.model = l.Model
		}
		if l.SessionID != "" {
			g.out.SessionID = l.SessionID
			out = append(out, events.RunSemantic{Kind: events.SemanticSession, Agent: "gemini", SessionID: l.SessionID, Model: l.Model})
		}
	case "message":
		if l.Role == "user" {
			g.turn.Reset()
			out = append(out, events.RunSemantic{Kind: events.SemanticMessage, Agent: "gemini", Role: "user", Text: l.Content})
		}
	case "tool_use":
		g.tools[l.ToolID] = l.ToolName
		out = append(out, events.RunSemantic{Kind: events.SemanticToolUse, Agent: "gemini", Role: "assistant", ToolUseID: l.ToolID,
			ToolName: l.ToolName, ToolInput: rawJSON(l.Parameters), Model: g.model})
	case "tool_result":
		text := contentText(l.Output)
		if text == "" {
			text = errorText(l.Error)
		}
		out = append(out, events.RunSemantic{Kind: events.SemanticToolResult, Agent: "gemini", ToolUseID: l.ToolID, ToolName: g.tools[l.ToolID],
			Text: text, IsError: l.Status != "" && l.Status != "success"})
	case "error":
		msg := l.Message
		if msg == "" {
			msg = errorText(l.Error)
		}
		if l.Severity != "warning" {
			g.out.ErrorText = msg
			if s := apiStatusIn(msg); s != 0 {
				g.out.APIStatus = s
			}
			g.out.APIError = g.out.APIError || apiErrorIn(msg)
		}
		out = append(out, events.RunSemantic{Kind: events.SemanticError, Agent: "gemini", Text: msg, IsError: l.Severity != "warning", Subtype: l.Severity})
	case "result":
		g.out.Turns++
		g.out.HasResult = true
		g.out.Subtype = l.Status
		g.out.IsError = l.Status != "" && l.Status != "success"
		g.out.Result = g.turn.String()
		if g.out.IsError {
			if msg := errorText(l.Error); msg != "" {
				g.out.ErrorText = msg
				if s := apiStatusIn(msg); s != 0 {
					g.out.APIStatus = s
				}
				g.out.APIError = g.out.APIError || apiErrorIn(msg)
			}
		}
		if l.Stats != nil {
			for _, model := range sortedModelKeys(l.Stats.Models) {
				m := l.Stats.Models[model]
				u := g.usage.get(model)
				u.InputTokens, u.OutputTokens, u.CacheReadTokens = m.InputTokens, m.OutputTokens, m.Cached
				out = append(out, g.usage.event(model))
			}
		}
		out = append(out, events.RunSemantic{Kind: events.SemanticResult, Agent: "gemini", Text: g.out.Result, IsError: g.out.IsError,
			Subtype: l.Status, SessionID: g.out.SessionID})
	}
	return out
}

// errorText reads an error that is a string or an object with a message.
func errorText(raw json.RawMessage) string {
	if s := jsonString(raw); s != "" {
		return s
	}
	var e struct {
		Message string `json:"message"`
		Type    string `json:"type"`
	}
	if decode(raw, &e) == nil {
		return strings.TrimSpace(e.Type + " " + e.Message)
	}
	return ""
}
