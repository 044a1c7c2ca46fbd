package agentoutput

import (
	"encoding/json"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
)

// codex parses `codex exec --json`.
type codex struct {
	out     Outcome
	usage   *usageBook
	model   string
	started map[string]bool
	last    string
}

func newCodex() *codex {
	return &codex{usage: newUsageBook("codex"), started: map[string]bool{}}
}

type codexLine struct {
	Type     string          `json:"type"`
	ThreadID string          `json:"thread_id"`
	Message  string          `json:"message"`
	Item     json.RawMessage `json:"item"`
	Usage    *struct {
		InputTokens     int64 `json:"input_tokens"`
		CachedInput     int64 `json:"cached_input_tokens"`
		OutputTokens    int64 `json:"output_tokens"`
		ReasoningOutput int64 `json:"reasoning_output_tokens"`
	} `json:"usage"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type codexItem struct {
	ID               string          `json:"id"`
	Type             string          `json:"type"`
	Text             string          `json:"text"`
	Message          string          `json:"message"`
	Command          string          `json:"command"`
	AggregatedOutput string          `json:"aggregated_output"`
	ExitCode         *int            `json:"exit_code"`
	Status           string          `json:"status"`
	Changes          json.RawMessage `json:"changes"`
	Server           string          `json:"server"`
	Tool             string          `json:"tool"`
	Arguments        json.RawMessage `json:"arguments"`
	Result           json.RawMessage `json:"result"`
	Query            string          `json:"query"`
}

// SetModel names the model the usage is attributed to (Codex does not print it).
func (c *codex) SetModel(m string) { c.model = m }

func (c *codex) Flush() []events.RunSemantic { return nil }
func (c *codex) Outcome() Outcome            { return c.out }

func (c *codex) Line(line []byte) []events.RunSemantic {
	var l codexLine
	if len(line) == 0 || line[0] != '{' || decode(line, &l) != nil {
		return nil
	}
	switch l.Type {
	case "thread.started":
		if l.ThreadID == "" {
			return nil
		}
		c.out.SessionID = l.ThreadID
		return []events.RunSemantic{{Kind: events.SemanticSession, Agent: "codex", SessionID: l.ThreadID, Model: c.model}}
	case "item.started", "item.updated", "item.completed":
		var it codexItem
		if decode(l.Item, &it) != nil {
			return nil
		}
		return c.item(l.Type == "item.completed", l.Type == "item.started", it)
	case "turn.completed":
		if l.Usage == nil {
			return nil
		}
		c.out.Turns++
		c.out.HasResult = true
		c.out.Result = c.last
		c.out.IsError = false
		c.out.ErrorText = ""
		c.out.APIStatus = 0
		u := c.usage.get(c.model)
		// Codex's figures are the thread's totals so far: they replace.
		u.InputTokens, u.OutputTokens = l.Usage.InputTokens, l.Usage.OutputTokens
		u.CacheReadTokens, u.ReasoningTokens = l.Usage.CachedInput, l.Usage.ReasoningOutput
		return []events.RunSemantic{c.usage.event(c.model),
			{Kind: events.SemanticResult, Agent: "codex", Text: c.last, SessionID: c.out.SessionID, Subtype: "turn.completed"}}
	case "turn.failed":
		msg := ""
		if l.Error != nil {
			msg = l.Error.Message
		}
		c.fail(msg)
		c.out.HasResult = true
		c.out.Subtype = "turn.failed"
		return []events.RunSemantic{{Kind: events.SemanticError, Agent: "codex", Text: msg, IsError: true, Subtype: "turn.failed"}}
	case "error":
		sub := "error"
		if strings.HasPrefix(l.Message, "Reconnecting") {
			// Codex retries a refused connection by itself (forever).
			sub = "reconnecting"
		} else {
			c.fail(l.Message)
		}
		return []events.RunSemantic{{Kind: events.SemanticError, Agent: "codex", Text: l.Message, IsError: sub == "error", Subtype: sub}}
	}
	return nil
}

func (c *codex) fail(msg string) {
	c.out.IsError = true
	if msg != "" {
		c.out.ErrorText = msg
		if s := apiStatusIn(msg); s != 0 {
			c.out.APIStatus = s
		}
		c.out.APIError = c.out.APIError || apiErrorIn(msg)
		lower := strings.ToLower(msg)
		if strings.Contains(lower, "no rollout found") || strings.Contains(lower, "thread not found") ||
			strings.Contains(lower, "no conversation found") || strings.Contains(lower, "session not found") {
			c.out.ResumeInvalid = true
		}
	}
}

func (c *codex) item(completed, started bool, it codexItem) []events.RunSemantic {
	switch it.Type {
	case "agent_message":
		if !completed {
			return nil
		}
		c.last = it.Text
		return []events.RunSemantic{{Kind: events.SemanticMessage, Agent: "codex", MessageID: it.ID, Role: "assistant", Text: it.Text, Model: c.model}}
	case "reasoning":
		if !completed {
			return nil
		}
		return []events.RunSemantic{{Kind: events.SemanticThinking, Agent: "codex", MessageID: it.ID, Role: "assistant", Text: it.Text, Model: c.model}}
	case "error":
		if !completed {
			return nil
		}
		return []events.RunSemantic{{Kind: events.SemanticError, Agent: "codex", Text: it.Message, Subtype: "item"}}
	case "command_execution":
		input, _ := json.Marshal(map[string]string{"command": it.Command})
		return c.tool(completed, it, "shell", input, it.AggregatedOutput,
			it.Status == "failed" || (it.ExitCode != nil && *it.ExitCode != 0))
	case "file_change":
		input, _ := json.Marshal(map[string]json.RawMessage{"changes": rawJSON(it.Changes)})
		return c.tool(completed, it, "apply_patch", input, describeChanges(it.Changes), it.Status == "failed")
	case "mcp_tool_call":
		return c.tool(completed, it, "mcp__"+it.Server+"__"+it.Tool, rawJSON(it.Arguments), string(rawJSON(it.Result)), it.Status == "failed")
	case "web_search":
		input, _ := json.Marshal(map[string]string{"query": it.Query})
		return c.tool(completed, it, "web_search", input, "", false)
	}
	return nil
}

// tool renders a tool item: its use when first seen, its result when completed.
func (c *codex) tool(completed bool, it codexItem, name string, input json.RawMessage, output string, failed bool) []events.RunSemantic {
	var out []events.RunSemantic
	if !c.started[it.ID] {
		c.started[it.ID] = true
		out = append(out, events.RunSemantic{Kind: events.SemanticToolUse, Agent: "codex", MessageID: it.ID, Role: "assistant",
			ToolUseID: it.ID, ToolName: name, ToolInput: rawJSON(input), Model: c.model})
	}
	if completed {
		out = append(out, events.RunSemantic{Kind: events.SemanticToolResult, Agent: "codex", ToolUseID: it.ID, ToolName: name, Text: output, IsError: failed})
	}
	return out
}

func describeChanges(raw json.RawMessage) string {
	var changes []struct {
		Path string `json:"path"`
		Kind string `json:"kind"`
	}
	if decode(raw, &changes) != nil {
		return ""
	}
	var lines []string
	for _, ch := range changes {
		lines = append(lines, ch.Kind+" "+ch.Path)
	}
	return strings.Join(lines, "\n")
}
