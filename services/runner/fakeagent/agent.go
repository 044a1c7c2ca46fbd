package fakeagent

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Streams are where the agent reads and writes, and how it leaves the world.
type Streams struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Cwd is reported in the init event and is where Bash tools run.
	Cwd string
	// Crash is called with a signal name for the crash directive. A process
	// kills itself here; a test records the call.
	Crash func(signal string)
}

// maxToolOutput bounds what a really executed Bash tool may print.
const maxToolOutput = 1 << 20

// Run acts out a script and returns the exit code. It stops early (exit code
// 130) when ctx ends.
func Run(ctx context.Context, s Script, st Streams) int {
	a := &agent{
		s:       s,
		st:      st,
		out:     bufio.NewWriterSize(st.Stdout, 64<<10),
		session: s.Session,
		start:   time.Now(),
	}
	if a.session == "" {
		a.session = newUUID()
	}
	defer a.out.Flush()
	if !s.Stdin {
		a.emitInit()
		if s.Crash != "" {
			return a.crash()
		}
		if !a.turn(ctx, s, s.Exit) {
			return 130
		}
		return s.Exit
	}
	if s.Crash != "" {
		a.emitInit()
		return a.crash()
	}
	// Interactive: like `claude --input-format stream-json`, every input line
	// is a turn that begins with an init event and the replayed user message.
	sc := bufio.NewScanner(st.Stdin)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		text := userText(sc.Bytes())
		if strings.TrimSpace(text) == "" {
			continue
		}
		a.emitInit()
		a.emit(userEvent{Type: "user", Message: userMessage{Role: "user", Content: text}, SessionID: a.session,
			UUID: newUUID(), Timestamp: time.Now().UTC().Format(time.RFC3339Nano), IsReplay: true})
		ts, err := Parse(text)
		if err != nil {
			// A bad directive in one turn is answered, not fatal.
			ts = Script{Text: "could not read the directives: " + err.Error(), Model: s.Model}
		}
		if ts.Model == DefaultModel {
			ts.Model = s.Model
		}
		if !a.turn(ctx, ts, ts.Exit) {
			return 130
		}
	}
	return s.Exit
}

type agent struct {
	s       Script
	st      Streams
	out     *bufio.Writer
	session string
	start   time.Time
	turns   int
	inTok   int64
	outTok  int64
}

func (a *agent) crash() int {
	_ = a.out.Flush()
	if a.st.Crash != nil {
		a.st.Crash(a.s.Crash)
	}
	// Only reached when the crash hook returns (in tests).
	return 128 + 9
}

// turn answers one prompt; false means ctx ended first.
func (a *agent) turn(ctx context.Context, s Script, exit int) bool {
	turnStart := time.Now()
	a.turns = 0
	a.inTok, a.outTok = 0, 0
	if s.Sleep > 0 {
		_ = a.out.Flush()
		if !sleep(ctx, s.Sleep) {
			return false
		}
	}
	for _, line := range s.Stderr {
		fmt.Fprintln(a.st.Stderr, line)
	}
	if s.Pieces != "" && !a.pieces(ctx, s.Pieces) {
		return false
	}
	msgID := newMsgID()
	last := ""
	for _, t := range s.Tools {
		a.turns++
		a.assistant(msgID, textBlock{Type: "text", Text: "I'll run that."})
		useID := "toolu_" + randomHex(12)
		a.assistant(msgID, toolUseBlock{Type: "tool_use", ID: useID, Name: t.Name, Input: toolInput(t)})
		_ = a.out.Flush()
		res := a.useTool(ctx, s, t)
		a.emit(userEvent{
			Type: "user",
			Message: userMessage{Role: "user", Content: []any{toolResultBlock{
				ToolUseID: useID, Type: "tool_result", Content: res.content, IsError: res.isError,
			}}},
			SessionID: a.session, UUID: newUUID(), Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
			ToolUseResult: &toolUseResult{Stdout: res.stdout, Stderr: res.stderr, NoOutputExpected: res.content == ""},
		})
		last = res.content
		msgID = newMsgID()
	}
	if s.Lines > 0 {
		for i := 1; i <= s.Lines; i++ {
			a.assistant(msgID, textBlock{Type: "text", Text: fmt.Sprintf("line %d of %d", i, s.Lines)})
			if s.Interval > 0 {
				_ = a.out.Flush()
				if !sleep(ctx, s.Interval) {
					return false
				}
			}
		}
	}
	if s.Bytes > 0 {
		a.raw(s.Bytes)
	}
	answer := s.Text
	switch {
	case answer == "" && len(s.Tools) > 0:
		answer = "Tool said: " + last
	case answer == "":
		answer = "Done."
	}
	a.turns++
	a.assistant(msgID, textBlock{Type: "text", Text: answer})
	a.result(s, answer, exit, time.Since(turnStart))
	_ = a.out.Flush()
	return true
}

func (a *agent) emitInit() {
	a.emit(initEvent{
		Type: "system", Subtype: "init", Cwd: a.st.Cwd, SessionID: a.session, Tools: tools,
		MCPServers: []any{}, Model: a.s.Model, PermissionMode: "default", SlashCommands: []string{"clear", "compact"},
		APIKeySource: "none", ClaudeCodeVersion: "2.1.197", OutputStyle: "default", Agents: []string{"general-purpose"},
		Skills: []string{}, Plugins: []any{}, UUID: newUUID(), FastModeState: "off", PhantomFake: true,
	})
}

func (a *agent) assistant(msgID string, block any) {
	in := int64(100 + a.turns)
	a.inTok += in
	a.outTok++
	a.emit(assistantEvent{
		Type: "assistant",
		Message: assistantMessage{ID: msgID, Type: "message", Role: "assistant", Model: a.s.Model, Content: []any{block},
			Usage: usage{InputTokens: in, OutputTokens: 1}},
		SessionID: a.session, UUID: newUUID(), RequestID: "req_fake_" + randomHex(6),
	})
}

func (a *agent) result(s Script, answer string, exit int, took time.Duration) {
	out := a.outTok + int64(len(answer)/4) + 1
	cost := float64(a.inTok)*inputPrice + float64(out)*outputPrice
	subtype, reason := "success", "completed"
	if exit != 0 {
		subtype, reason = "error_during_execution", "error"
	}
	a.emit(resultEvent{
		Type: "result", Subtype: subtype, IsError: exit != 0, DurationMs: took.Milliseconds(),
		DurationAPIMs: took.Milliseconds() / 2, NumTurns: a.turns, Result: answer, StopReason: "end_turn",
		SessionID: a.session, TotalCostUSD: cost,
		Usage: resultUsage{InputTokens: a.inTok, OutputTokens: out, ServiceTier: "standard"},
		ModelUsage: map[string]modelUsage{s.Model: {InputTokens: a.inTok, OutputTokens: out, CostUSD: cost,
			ContextWindow: 200_000, MaxOutputTokens: 64_000}},
		PermissionDenials: []any{}, TerminalReason: reason, FastModeState: "off", UUID: newUUID(),
	})
}

// piece is one write of the pieces directive.
type piece struct {
	Stdout *string `json:"stdout"`
	Stderr *string `json:"stderr"`
	Pause  string  `json:"pause"`
}

// pieces prints the pieces of a file, each with one write call and its
// pause after it; false means ctx ended first. A file that cannot be read
// is said on stderr.
func (a *agent) pieces(ctx context.Context, path string) bool {
	if !filepath.IsAbs(path) {
		path = filepath.Join(a.st.Cwd, path)
	}
	var ps []piece
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &ps)
	}
	if err != nil {
		fmt.Fprintf(a.st.Stderr, "fake agent: could not read the pieces: %v\n", err)
		return true
	}
	_ = a.out.Flush()
	for _, p := range ps {
		switch {
		case p.Stdout != nil:
			_, _ = io.WriteString(a.st.Stdout, *p.Stdout)
		case p.Stderr != nil:
			_, _ = io.WriteString(a.st.Stderr, *p.Stderr)
		}
		if d, err := time.ParseDuration(p.Pause); err == nil && d > 0 && !sleep(ctx, d) {
			return false
		}
	}
	return true
}

// raw writes n bytes of 100-byte text lines, the last one shorter.
func (a *agent) raw(n int64) {
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	block := bytes.Repeat(line, 640)
	for n > 0 {
		w := min(n, int64(len(block)))
		part := block[:w]
		if w < int64(len(block)) && w > 0 {
			// End on a newline so the next event starts a line.
			part = append(append([]byte(nil), block[:w-1]...), '\n')
		}
		_, _ = a.out.Write(part)
		n -= w
	}
}

func (a *agent) emit(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Every value above is plain data: this cannot happen.
		panic(err)
	}
	_, _ = a.out.Write(b)
	_ = a.out.WriteByte('\n')
}

type toolResult struct {
	content, stdout, stderr string
	isError                 bool
}

func (a *agent) useTool(ctx context.Context, s Script, t Tool) toolResult {
	if t.Name != "Bash" {
		if t.Name == "Read" {
			return toolResult{content: "1\t(fake contents of " + t.Input + ")"}
		}
		return toolResult{content: "ok"}
	}
	if !s.ToolExec {
		// Plausible, not real: nothing is run unless tool-exec=1.
		if rest, ok := strings.CutPrefix(t.Input, "echo "); ok {
			out := strings.Trim(rest, `"'`)
			return toolResult{content: out, stdout: out}
		}
		return toolResult{}
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", t.Input)
	cmd.Dir = a.st.Cwd
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxToolOutput, maxToolOutput
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	so := strings.TrimRight(stdout.String(), "\n")
	se := strings.TrimRight(stderr.String(), "\n")
	content := so
	if se != "" {
		content = strings.TrimLeft(so+"\n"+se, "\n")
	}
	if err != nil {
		content = strings.TrimLeft(content+"\n"+err.Error(), "\n")
	}
	return toolResult{content: content, stdout: so, stderr: se, isError: err != nil}
}

func toolInput(t Tool) map[string]any {
	switch t.Name {
	case "Bash":
		return map[string]any{"command": t.Input, "description": "Run requested command"}
	case "Read", "Write", "Edit":
		return map[string]any{"file_path": t.Input}
	case "Glob", "Grep":
		return map[string]any{"pattern": t.Input}
	}
	return map[string]any{"input": t.Input}
}

// userText reads a stdin line: a stream-json user message or plain text.
func userText(line []byte) string {
	var msg struct {
		Type    string `json:"type"`
		Message struct {
			Content json.RawMessage `json:"content"`
		} `json:"message"`
	}
	if json.Unmarshal(line, &msg) != nil || msg.Type != "user" {
		return string(line)
	}
	var s string
	if json.Unmarshal(msg.Message.Content, &s) == nil {
		return s
	}
	var blocks []textBlock
	if json.Unmarshal(msg.Message.Content, &blocks) == nil {
		var parts []string
		for _, b := range blocks {
			if b.Type == "text" {
				parts = append(parts, b.Text)
			}
		}
		return strings.Join(parts, "\n")
	}
	return string(line)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newMsgID() string { return "msg_fake_" + randomHex(10) }

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
