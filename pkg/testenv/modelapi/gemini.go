package modelapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// geminiRequest is the part of a generateContent request the fake reads.
type geminiRequest struct {
	Contents []struct {
		Role  string       `json:"role"`
		Parts []geminiPart `json:"parts"`
	} `json:"contents"`
	SystemInstruction *struct {
		Parts []geminiPart `json:"parts"`
	} `json:"systemInstruction"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig json.RawMessage `json:"generationConfig"`
	// The CLI's own client wraps the request in {"model","request"} on some paths.
	Request json.RawMessage `json:"request"`
}

type geminiPart struct {
	Text         string `json:"text,omitempty"`
	Thought      bool   `json:"thought,omitempty"`
	FunctionCall *struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall,omitempty"`
	FunctionResponse *struct {
		ID       string          `json:"id,omitempty"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse,omitempty"`
}

func parseGemini(body []byte, model string) (Request, error) {
	var in geminiRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return Request{}, err
	}
	if len(in.Contents) == 0 && len(in.Request) > 0 {
		if err := json.Unmarshal(in.Request, &in); err != nil {
			return Request{}, err
		}
	}
	req := Request{API: Gemini, Model: model}
	if in.SystemInstruction != nil {
		for _, p := range in.SystemInstruction.Parts {
			req.System += p.Text
		}
	}
	for _, t := range in.Tools {
		for _, f := range t.FunctionDeclarations {
			req.Tools = append(req.Tools, f.Name)
		}
	}
	for _, c := range in.Contents {
		role := RoleUser
		if c.Role == "model" {
			role = RoleAssistant
		}
		msg := Message{Role: role}
		var texts []string
		for _, p := range c.Parts {
			switch {
			case p.FunctionCall != nil:
				msg.ToolCalls = append(msg.ToolCalls, ToolCall{ID: p.FunctionCall.ID, Name: p.FunctionCall.Name, Input: p.FunctionCall.Args})
			case p.FunctionResponse != nil:
				req.Messages = append(req.Messages, Message{Role: RoleTool, Text: functionOutput(p.FunctionResponse.Response), ToolCallID: p.FunctionResponse.ID})
			case p.Text != "" && !p.Thought:
				texts = append(texts, p.Text)
			}
		}
		msg.Text = strings.Join(texts, "\n")
		if msg.Text != "" || len(msg.ToolCalls) > 0 {
			req.Messages = append(req.Messages, msg)
		}
	}
	gc := string(in.GenerationConfig)
	req.Auxiliary = len(req.Tools) == 0 || strings.Contains(gc, "responseJsonSchema") || strings.Contains(gc, "responseSchema") ||
		strings.Contains(gc, "application/json")
	return req, nil
}

// functionOutput reads a function response ({"output": "..."} or any JSON).
func functionOutput(raw json.RawMessage) string {
	var o struct {
		Output string `json:"output"`
	}
	if json.Unmarshal(raw, &o) == nil && o.Output != "" {
		return o.Output
	}
	return string(raw)
}

func (s *Server) gemini(w http.ResponseWriter, r *http.Request, body []byte, model, verb string) {
	if verb == "countTokens" {
		writeJSON(w, http.StatusOK, map[string]any{"totalTokens": 100})
		return
	}
	req, err := parseGemini(body, model)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, geminiError(http.StatusBadRequest, "could not parse the request: "+err.Error()))
		return
	}
	req.Stream = verb == "streamGenerateContent"
	req.Method, req.Path, req.Header, req.Body = r.Method, r.URL.Path, r.Header.Clone(), body
	rep, ok := s.answer(r, req)
	if !ok {
		return
	}
	if isError(rep) {
		writeError(w, rep, geminiError(rep.Status, errorMessage(rep)))
		return
	}
	var parts []map[string]any
	if rep.Thinking != "" {
		parts = append(parts, map[string]any{"text": rep.Thinking, "thought": true})
	}
	if rep.Text != "" {
		parts = append(parts, map[string]any{"text": rep.Text})
	}
	for _, c := range rep.ToolCalls {
		parts = append(parts, map[string]any{"functionCall": map[string]any{"name": c.Name, "args": c.Input}})
	}
	resp := map[string]any{
		"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}},
		"usageMetadata": map[string]any{"promptTokenCount": rep.InputTokens, "candidatesTokenCount": rep.OutputTokens,
			"totalTokenCount": rep.InputTokens + rep.OutputTokens},
		"modelVersion": model,
		"responseId":   s.nextID("gem"),
	}
	if !req.Stream {
		writeJSON(w, http.StatusOK, resp)
		return
	}
	e := newSSE(w)
	e.event("", resp)
}

func geminiError(status int, msg string) map[string]any {
	st := "INVALID_ARGUMENT"
	switch {
	case status == http.StatusUnauthorized:
		st = "UNAUTHENTICATED"
	case status == http.StatusForbidden:
		st = "PERMISSION_DENIED"
	case status == http.StatusTooManyRequests:
		st = "RESOURCE_EXHAUSTED"
	case status >= 500:
		st = "INTERNAL"
	}
	return map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st}}
}

// models answers a model listing (Codex and Gemini may ask).
func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "v1beta") {
		writeJSON(w, http.StatusOK, map[string]any{"models": []any{
			map[string]any{"name": "models/gemini-2.5-pro"}, map[string]any{"name": "models/gemini-2.5-flash"}}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
		map[string]any{"id": "gpt-5-codex", "object": "model"}, map[string]any{"id": "gpt-5", "object": "model"}},
		"models": []any{}})
}
