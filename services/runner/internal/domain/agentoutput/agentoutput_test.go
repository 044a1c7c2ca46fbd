package agentoutput

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
)

// parseFile feeds a transcript to a parser line by line.
func parseFile(t testing.TB, adapter, name string) ([]events.RunSemantic, Outcome) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "transcripts", name))
	require.NoError(t, err)
	p := New(adapter)
	var out []events.RunSemantic
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, p.Line(sc.Bytes())...)
	}
	out = append(out, p.Flush()...)
	return out, p.Outcome()
}

func kinds(evs []events.RunSemantic) []string {
	var ks []string
	for _, e := range evs {
		ks = append(ks, e.Kind)
	}
	return ks
}

func find(evs []events.RunSemantic, kind string) []events.RunSemantic {
	var out []events.RunSemantic
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestClaudeBashTool(t *testing.T) {
	evs, out := parseFile(t, "claude", "claude_bash_tool.ndjson")
	require.Equal(t, []string{"session", "message", "usage", "tool_use", "tool_result", "message", "usage", "usage", "result"}, kinds(evs))
	require.Equal(t, "cfce1256-5ceb-4425-b0ed-18cf7759f13f", evs[0].SessionID)
	tu := find(evs, "tool_use")[0]
	require.Equal(t, "Bash", tu.ToolName)
	require.Equal(t, "toolu_c265ff4030e245c9bd954396", tu.ToolUseID)
	require.JSONEq(t, `{"command":"echo hi","description":"Run requested command"}`, string(tu.ToolInput))
	tr := find(evs, "tool_result")[0]
	require.Equal(t, tu.ToolUseID, tr.ToolUseID)
	require.Equal(t, "hi", tr.Text)
	require.False(t, tr.IsError)
	last := find(evs, "usage")
	final := last[len(last)-1].Usage
	require.Equal(t, "claude-opus-4-8", final.Model)
	require.EqualValues(t, 309, final.InputTokens)
	require.EqualValues(t, 36, final.OutputTokens)
	require.InDelta(t, 0.002445, *final.CostUSD, 1e-9)
	require.False(t, final.CostEstimated)
	require.True(t, out.HasResult)
	require.False(t, out.IsError)
	require.Equal(t, "Tool said: hi", out.Result)
	require.Equal(t, "cfce1256-5ceb-4425-b0ed-18cf7759f13f", out.SessionID)
}

func TestClaudeFailures(t *testing.T) {
	_, out := parseFile(t, "claude", "claude_http400.ndjson")
	require.True(t, out.IsError)
	require.Equal(t, 400, out.APIStatus)
	require.Contains(t, out.ErrorText, "API Error: 400")

	evs, out := parseFile(t, "claude", "claude_http401_retrying.ndjson")
	require.Equal(t, 401, out.APIStatus)
	require.Len(t, find(evs, "error"), 7)
	require.Equal(t, "api_retry", find(evs, "error")[0].Subtype)

	_, out = parseFile(t, "claude", "claude_max_turns.ndjson")
	require.True(t, out.MaxTurns)
	require.True(t, out.IsError)
	require.Equal(t, "error_max_turns", out.Subtype)

	_, out = parseFile(t, "claude", "claude_resume_missing.ndjson")
	require.True(t, out.ResumeInvalid)
	require.True(t, out.IsError)

	evs, out = parseFile(t, "claude", "claude_hook_json_deny.ndjson")
	require.False(t, out.IsError)
	tr := find(evs, "tool_result")[0]
	require.True(t, tr.IsError)
	require.Equal(t, "blocked by test hook (json)", tr.Text)
}

func TestClaudeInteractiveAndPartial(t *testing.T) {
	evs, out := parseFile(t, "claude", "claude_stdin_stream_json.ndjson")
	require.Equal(t, 2, out.Turns)
	require.Len(t, find(evs, "session"), 1, "the session is reported once")
	users := 0
	for _, e := range find(evs, "message") {
		if e.Role == "user" {
			users++
		}
	}
	require.Equal(t, 2, users, "each turn's input is a user message")
	u := find(evs, "usage")
	require.InDelta(t, 0.00413, *u[len(u)-1].Usage.CostUSD, 1e-9, "cumulative over the session")

	evs, _ = parseFile(t, "claude", "claude_partial_messages.ndjson")
	require.Len(t, find(evs, "tool_use"), 1, "stream_event lines add nothing")
	require.Len(t, find(evs, "result"), 1)
}

func TestCodex(t *testing.T) {
	evs, out := parseFile(t, "codex", "codex_exec_command.ndjson")
	require.Equal(t, []string{"session", "message", "tool_use", "tool_result", "message", "usage", "result"}, kinds(evs))
	tu := find(evs, "tool_use")[0]
	require.Equal(t, "shell", tu.ToolName)
	require.JSONEq(t, `{"command":"/bin/bash -lc 'echo hi && touch made_by_codex.txt'"}`, string(tu.ToolInput))
	require.Equal(t, "hi\n", find(evs, "tool_result")[0].Text)
	require.EqualValues(t, 223, find(evs, "usage")[0].Usage.InputTokens)
	require.Nil(t, find(evs, "usage")[0].Usage.CostUSD, "Codex reports no cost")
	require.Equal(t, "01a1fdbc-a742-7d40-b86f-6bd17b060b85", out.SessionID)
	require.True(t, out.HasResult)
	require.False(t, out.IsError)
	require.Contains(t, out.Result, "Tool said:")

	evs, _ = parseFile(t, "codex", "codex_patch_reasoning.ndjson")
	require.Len(t, find(evs, "thinking"), 1)
	require.Equal(t, "apply_patch", find(evs, "tool_use")[0].ToolName)
	require.Equal(t, "add /home/dev/project/hello_codex.txt", find(evs, "tool_result")[0].Text)

	_, out = parseFile(t, "codex", "codex_http401.ndjson")
	require.True(t, out.IsError)
	require.Equal(t, 401, out.APIStatus)

	evs, out = parseFile(t, "codex", "codex_conn_refused.ndjson")
	require.False(t, out.IsError, "reconnecting is not a failure by itself")
	require.Equal(t, "reconnecting", find(evs, "error")[0].Subtype)
}

func TestAPIErrorsWithoutStatus(t *testing.T) {
	p := New("codex")
	p.Line([]byte(`{"type":"turn.failed","error":{"message":"{\"error\":{\"code\":\"invalid_request_error\",\"message\":\"fake error 400\"}}"}}`))
	reason, _ := Classify("codex", 1, p.Outcome(), "Reading additional input from stdin...")
	require.Equal(t, "api_error", reason)
	g := New("gemini")
	g.Line([]byte(`{"type":"result","status":"error","error":{"type":"unknown","message":"[API Error: {\"error\":{\"code\":400,\"message\":\"fake error 400\"}}]"}}`))
	require.Equal(t, 400, g.Outcome().APIStatus)
	reason, _ = Classify("gemini", 1, g.Outcome(), "")
	require.Equal(t, "api_error", reason)
}

func TestGemini(t *testing.T) {
	evs, out := parseFile(t, "gemini", "gemini_yolo_shell.ndjson")
	require.Equal(t, []string{"session", "message", "message", "tool_use", "tool_result", "message", "usage", "usage", "result"}, kinds(evs))
	require.Equal(t, "run_shell_command", find(evs, "tool_use")[0].ToolName)
	require.Equal(t, "hi", find(evs, "tool_result")[0].Text)
	require.Equal(t, "run_shell_command", find(evs, "tool_result")[0].ToolName)
	require.Equal(t, "46e23ace-a39b-44de-8817-2cae303c0cba", out.SessionID)
	require.False(t, out.IsError)
	require.Contains(t, out.Result, "Tool said:")
	require.Contains(t, out.Result, "I'll run that.")
}

func TestGarbageIsIgnored(t *testing.T) {
	for _, a := range []string{"claude", "codex", "gemini"} {
		p := New(a)
		for _, l := range []string{"", "not json", "{", `{"type":"assistant","message":"x"}`, `{"type":"result","usage":7}`,
			`{"type":"item.completed","item":[]}`, `{"type":"tool_result","output":{}}`, `[1,2]`, `{"type":"unknown.kind"}`} {
			require.NotPanics(t, func() { p.Line([]byte(l)) })
		}
		require.NotPanics(t, func() { p.Flush() })
	}
}

func TestAPIStatusIn(t *testing.T) {
	for msg, want := range map[string]int{
		"unexpected status 401 Unauthorized: fake error 401, url: http://127.0.0.1:8766/v1/responses": 401,
		"API Error: 400 fake error 400":                                  400,
		"Failed to authenticate. API Error: 401 fake":                    401,
		"[API Error: got status: 429 Too Many Requests]":                 429,
		"nothing here 12345":                                             0,
		"status 200 ok":                                                  0,
		`[API Error: {"error":{"code":400,"message":"fake error 400"}}]`: 400,
	} {
		require.Equal(t, want, apiStatusIn(msg), msg)
	}
}

// FuzzParsers feeds arbitrary lines to every parser: none may panic, and
// every event they return has a known kind.
func FuzzParsers(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "transcripts", "*.ndjson"))
	for _, name := range files {
		data, _ := os.ReadFile(name)
		for _, l := range bytes.Split(data, []byte{'\n'}) {
			if len(l) < 4096 {
				f.Add(l)
			}
		}
	}
	known := map[string]bool{"message": true, "tool_use": true, "tool_result": true, "thinking": true, "usage": true, "session": true, "result": true, "error": true}
	f.Fuzz(func(t *testing.T, line []byte) {
		for _, a := range []string{"claude", "codex", "gemini"} {
			p := New(a)
			for _, ev := range append(p.Line(line), p.Line(line)...) {
				if !known[ev.Kind] {
					t.Fatalf("%s: unknown kind %q", a, ev.Kind)
				}
				if ev.Kind == "usage" && ev.Usage == nil {
					t.Fatalf("%s: usage without figures", a)
				}
			}
			p.Flush()
			_ = p.Outcome()
		}
	})
}
