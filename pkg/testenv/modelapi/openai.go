package modelapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// openaiRequest is the part of a Responses request the fake reads.
type openaiRequest struct {
	Model        string            `json:"model"`
	Stream       bool              `json:"stream"`
	Instructions string            `json:"instructions"`
	Input        json.RawMessage   `json:"input"`
	Tools        []json.RawMessage `json:"tools"`
	Text         json.RawMessage   `json:"text"`
}

type openaiItem struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	Content   json.RawMessage `json:"content"`
	Name      string          `json:"name"`
	Arguments string          `json:"arguments"`
	CallID    string          `json:"call_id"`
	Output    json.RawMessage `json:"output"`
	Action    json.RawMessage `json:"action"`
}

// openaiText reads content that is a string or a list of input/output text parts.
func openaiText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) != nil {
		return ""
	}
	var out []string
	for _, p := range parts {
		if p.Text != "" {
			out = append(out, p.Text)
		}
	}
	return strings.Join(out, "\n")
}

func parseOpenAI(body []byte) (Request, error) {
	var in openaiRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return Request{}, err
	}
	req := Request{API: OpenAI, Model: in.Model, Stream: in.Stream, System: in.Instructions}
	for _, raw := range in.Tools {
		var t struct {
			Type     string `json:"type"`
			Name     string `json:"name"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		if json.Unmarshal(raw, &t) == nil {
			name := t.Name
			if name == "" {
				name = t.Function.Name
			}
			if name == "" {
				name = t.Type
			}
			req.Tools = append(req.Tools, name)
		}
	}
	var items []openaiItem
	var prompt string
	if json.Unmarshal(in.Input, &prompt) == nil {
		req.Messages = append(req.Messages, Message{Role: RoleUser, Text: prompt})
	} else if err := json.Unmarshal(in.Input, &items); err != nil {
		return Request{}, err
	}
	for _, it := range items {
		switch it.Type {
		case "message", "":
			text := openaiText(it.Content)
			// Codex sends its environment and instructions as user messages
			// wrapped in tags; they are not the user's words.
			if it.Role == "user" && strings.HasPrefix(strings.TrimSpace(text), "<") {
				continue
			}
			if it.Role == "developer" || it.Role == "system" {
				continue
			}
			req.Messages = append(req.Messages, Message{Role: it.Role, Text: text})
		case "function_call", "custom_tool_call", "local_shell_call":
			req.Messages = append(req.Messages, Message{Role: RoleAssistant,
				ToolCalls: []ToolCall{{ID: it.CallID, Name: it.Name, Input: json.RawMessage(it.Arguments)}}})
		case "function_call_output", "custom_tool_call_output", "local_shell_call_output":
			var out string
			if json.Unmarshal(it.Output, &out) != nil {
				var o struct {
					Output string `json:"output"`
				}
				_ = json.Unmarshal(it.Output, &o)
				out = o.Output
			}
			req.Messages = append(req.Messages, Message{Role: RoleTool, Text: out, ToolCallID: it.CallID})
		}
	}
	req.Auxiliary = len(in.Tools) == 0 || strings.Contains(string(in.Text), "json_schema")
	return req, nil
}

func (s *Server) openai(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := parseOpenAI(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, openaiError("invalid_request_error", "could not parse the request: "+err.Error()))
		return
	}
	req.Method, req.Path, req.Header, req.Body = r.Method, r.URL.Path, r.Header.Clone(), body
	rep, ok := s.answer(r, req)
	if !ok {
		return
	}
	if isError(rep) {
		writeError(w, rep, openaiError(openaiErrorType(rep.Status), errorMessage(rep)))
		return
	}
	respID := s.nextID("resp")
	var output []map[string]any
	if rep.Thinking != "" {
		output = append(output, map[string]any{"type": "reasoning", "id": s.nextID("rs"),
			"summary": []any{map[string]any{"type": "summary_text", "text": rep.Thinking}}})
	}
	if rep.Text != "" {
		output = append(output, map[string]any{"type": "message", "id": s.nextID("msg"), "role": "assistant", "status": "completed",
			"content": []any{map[string]any{"type": "output_text", "text": rep.Text, "annotations": []any{}}}})
	}
	for _, c := range rep.ToolCalls {
		output = append(output, map[string]any{"type": "function_call", "id": s.nextID("fc"), "call_id": c.ID,
			"name": c.Name, "arguments": string(c.Input), "status": "completed"})
	}
	usage := map[string]any{"input_tokens": rep.InputTokens, "input_tokens_details": map[string]any{"cached_tokens": 0},
		"output_tokens": rep.OutputTokens, "output_tokens_details": map[string]any{"reasoning_tokens": 0},
		"total_tokens": rep.InputTokens + rep.OutputTokens}
	response := func(status string, out []map[string]any) map[string]any {
		m := map[string]any{"id": respID, "object": "response", "status": status, "model": req.Model, "output": out}
		if status == "completed" {
			m["usage"] = usage
		}
		return m
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, response("completed", output))
		return
	}
	e := newSSE(w)
	seq := 0
	ev := func(kind string, fields map[string]any) {
		fields["type"] = kind
		fields["sequence_number"] = seq
		seq++
		e.event(kind, fields)
	}
	ev("response.created", map[string]any{"response": response("in_progress", []map[string]any{})})
	for i, item := range output {
		ev("response.output_item.added", map[string]any{"output_index": i, "item": item})
		if item["type"] == "message" {
			ev("response.output_text.delta", map[string]any{"item_id": item["id"], "output_index": i, "content_index": 0, "delta": rep.Text})
		}
		ev("response.output_item.done", map[string]any{"output_index": i, "item": item})
	}
	ev("response.completed", map[string]any{"response": response("completed", output)})
}

func openaiError(kind, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"type": kind, "message": msg, "code": kind}}
}

func openaiErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_api_key"
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status >= 500:
		return "server_error"
	}
	return "invalid_request_error"
}
