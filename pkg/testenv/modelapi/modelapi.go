// Package modelapi is a fake model API for end-to-end tests of the real
// agent CLIs: it speaks Anthropic Messages (SSE streaming, and the `HEAD /`
// Claude Code sends first), OpenAI Responses (SSE) and Gemini
// `streamGenerateContent?alt=sse` (and `generateContent`) on a loopback port,
// so that `claude`, `codex` and `gemini` run fully offline.
//
// What the model answers is scripted by the test. Every request is turned
// into a provider-neutral Request (the conversation so far, the tools the CLI
// offers) and handed to the server's Script, whose Reply (text, thinking,
// tool calls, an HTTP error, a delay) is rendered in the provider's wire
// format. The default script, Magic, reads magic words in the prompt:
//
//	FAKE_CMD=<command>   call the CLI's shell tool with <command> (to the end of the line),
//	                     then answer "Tool said: <output>" once the result comes back
//	USE_BASH             the same as FAKE_CMD=echo hi
//	FAKE_LOOP            call the shell tool (echo loop) on every turn: runs into max turns
//	FAKE_ERROR=<status>  answer with that HTTP status (400, 401, 429, 500, ...)
//	FAKE_SLEEP=<dur>     wait that long (a Go duration) before answering
//	FAKE_THINK           start the answer with a thinking block
//	FAKE_RECALL          answer with every earlier user message ("Earlier: a | b"), to prove a resume
//	FAKE_REPLY=<text>    answer with that text (to the end of the line)
//
// Anything else is answered with "Hello from fake model". The server listens
// on 127.0.0.1 only.
package modelapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// APIs a request may come in on.
const (
	Anthropic = "anthropic"
	OpenAI    = "openai"
	Gemini    = "gemini"
)

// Roles in a Request's conversation.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	// RoleTool is a tool's result sent back to the model.
	RoleTool = "tool"
)

// Message is one turn of the conversation, provider-neutral.
type Message struct {
	Role string
	// Text is the turn's text (user or assistant), or the tool's output.
	Text string
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// ToolCallID links a tool result to its call.
	ToolCallID string
}

// ToolCall is a call of one of the CLI's tools.
type ToolCall struct {
	ID   string
	Name string
	// Input is the tool's arguments as a JSON object.
	Input json.RawMessage
}

// Request is one model request as the script sees it.
type Request struct {
	API    string
	Method string
	Path   string
	Model  string
	Stream bool
	// System is the system prompt, when the request has one.
	System string
	// Messages is the conversation so far, oldest first.
	Messages []Message
	// Tools are the names of the tools the CLI offers.
	Tools []string
	// Auxiliary is true for a request the CLI makes for itself (a title, a
	// routing decision, a structured side question) rather than for the
	// agent's turn: it asks for JSON or offers no tools while the agent's
	// turns do.
	Auxiliary bool
	// Header is the request's headers.
	Header http.Header
	// Body is the raw request body.
	Body []byte
}

// LastUserText is the text of the latest user turn that is not a tool
// result, or "".
func (r Request) LastUserText() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if m := r.Messages[i]; m.Role == RoleUser && m.Text != "" {
			return m.Text
		}
	}
	return ""
}

// UserTexts are the texts of every user turn, oldest first.
func (r Request) UserTexts() []string {
	var out []string
	for _, m := range r.Messages {
		if m.Role == RoleUser && m.Text != "" {
			out = append(out, m.Text)
		}
	}
	return out
}

// LastToolResult is the latest message when it is a tool result.
func (r Request) LastToolResult() (Message, bool) {
	if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == RoleTool {
		return r.Messages[n-1], true
	}
	return Message{}, false
}

// ShellTool is the name of the CLI's shell tool among r.Tools, or "".
func (r Request) ShellTool() string {
	for _, want := range shellTools {
		for _, t := range r.Tools {
			if t == want {
				return t
			}
		}
	}
	return ""
}

// shellTools are the shell tools of the CLIs, in order of preference.
var shellTools = []string{"Bash", "run_shell_command", "exec_command", "shell", "local_shell", "shell_command"}

// ShellCall is a call of the request's shell tool running command, with the
// arguments that tool takes.
func (r Request) ShellCall(id, command string) ToolCall {
	name := r.ShellTool()
	var input any
	switch name {
	case "Bash":
		input = map[string]any{"command": command, "description": "Run requested command"}
	case "run_shell_command":
		input = map[string]any{"command": command, "description": "run"}
	case "exec_command":
		input = map[string]any{"cmd": command}
	case "shell_command":
		input = map[string]any{"command": command}
	case "":
		name = "Bash"
		input = map[string]any{"command": command}
	default:
		input = map[string]any{"command": []string{"bash", "-lc", command}}
	}
	raw, _ := json.Marshal(input)
	return ToolCall{ID: id, Name: name, Input: raw}
}

// Reply is what the model answers.
type Reply struct {
	// Status, when not 0 or 200, makes the answer an HTTP error with
	// ErrorMessage (default "fake error <status>").
	Status       int
	ErrorMessage string
	// RetryAfter is sent with an error, when set.
	RetryAfter time.Duration
	// Delay waits before answering (the request's context ends it early).
	Delay time.Duration
	// Thinking, Text and ToolCalls are the answer's blocks, in that order.
	Thinking  string
	Text      string
	ToolCalls []ToolCall
	// InputTokens and OutputTokens are the usage reported (defaults: 100 + 10 per message, 12).
	InputTokens, OutputTokens int
}

// Script answers requests.
type Script func(Request) Reply

// Server is a running fake model API.
type Server struct {
	// URL is the base URL (http://127.0.0.1:port), without a trailing slash.
	URL string

	srv *http.Server
	l   net.Listener

	mu       sync.Mutex
	script   Script
	requests []Request
	seq      int
	done     chan struct{}
}

// Start starts a server with the Magic script on 127.0.0.1 and stops it when
// the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New(Magic)
	if err != nil {
		t.Fatalf("could not start the fake model API: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// New starts a server answering with script on a free loopback port.
func New(script Script) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("could not listen on loopback: %w", err)
	}
	s := &Server{URL: "http://" + l.Addr().String(), l: l, script: script, done: make(chan struct{})}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(l)
	}()
	return s, nil
}

// Close stops the server and ends the requests in flight.
func (s *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
}

// SetScript replaces the script (for the requests that follow).
func (s *Server) SetScript(script Script) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.script = script
}

// Requests returns the model requests served so far (HEAD probes and
// count-tokens calls excluded).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// AgentRequests returns the requests that were agent turns (not auxiliary).
func (s *Server) AgentRequests() []Request {
	var out []Request
	for _, r := range s.Requests() {
		if !r.Auxiliary {
			out = append(out, r)
		}
	}
	return out
}

func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s_fake_%06d", prefix, s.seq)
}

var geminiPath = regexp.MustCompile(`^/(v1beta|v1|v1alpha)/models/([^/:]+):(streamGenerateContent|generateContent|countTokens)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodHead || (r.Method == http.MethodGet && r.URL.Path == "/") {
		// Claude Code probes the base URL before its first request.
		w.WriteHeader(http.StatusOK)
		return
	}
	body, err := readBody(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/messages/count_tokens"):
		writeJSON(w, http.StatusOK, map[string]any{"input_tokens": 100})
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/messages"):
		s.anthropic(w, r, body)
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/responses"):
		s.openai(w, r, body)
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/models"):
		s.models(w, r)
	default:
		if m := geminiPath.FindStringSubmatch(path); m != nil && r.Method == http.MethodPost {
			s.gemini(w, r, body, m[2], m[3])
			return
		}
		writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"message": "the fake model API has no " + r.Method + " " + path}})
	}
}

func readBody(r *http.Request) ([]byte, error) {
	defer r.Body.Close()
	b, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("could not read the request body: %w", err)
	}
	return b, nil
}

// answer records the request, runs the script and waits its delay. ok is
// false when the client went away meanwhile.
func (s *Server) answer(r *http.Request, req Request) (Reply, bool) {
	s.mu.Lock()
	s.requests = append(s.requests, req)
	script := s.script
	s.mu.Unlock()
	rep := script(req)
	if rep.InputTokens == 0 {
		rep.InputTokens = 100 + 10*len(req.Messages)
	}
	if rep.OutputTokens == 0 {
		rep.OutputTokens = 12
	}
	if rep.Delay > 0 {
		t := time.NewTimer(rep.Delay)
		defer t.Stop()
		select {
		case <-r.Context().Done():
			return rep, false
		case <-t.C:
		}
	}
	return rep, true
}

func isError(rep Reply) bool { return rep.Status != 0 && rep.Status != http.StatusOK }

func errorMessage(rep Reply) string {
	if rep.ErrorMessage != "" {
		return rep.ErrorMessage
	}
	return fmt.Sprintf("fake error %d", rep.Status)
}

func writeError(w http.ResponseWriter, rep Reply, body any) {
	if rep.RetryAfter > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(int(rep.RetryAfter.Seconds()+0.5)))
	}
	writeJSON(w, rep.Status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sse writes server-sent events and flushes each.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func newSSE(w http.ResponseWriter) *sse {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	return &sse{w: w, f: f}
}

// event writes one event; name "" writes a data-only event.
func (e *sse) event(name string, data any) {
	raw, _ := json.Marshal(data)
	if name != "" {
		fmt.Fprintf(e.w, "event: %s\n", name)
	}
	fmt.Fprintf(e.w, "data: %s\n\n", raw)
	if e.f != nil {
		e.f.Flush()
	}
}
