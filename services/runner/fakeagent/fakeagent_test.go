package fakeagent_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/fakeagent"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		prompt string
		want   fakeagent.Script
	}{
		{"plain text", "fix the bug please", fakeagent.Script{Text: "fix the bug please"}},
		{"sleep and exit", "hello sleep=2s exit=3", fakeagent.Script{Text: "hello", Sleep: 2 * time.Second, Exit: 3}},
		{"stderr runs to the next directive", "stderr=some text exit=1 bye", fakeagent.Script{Stderr: []string{"some text"}, Exit: 1, Text: "bye"}},
		{"stderr runs to the end", "answer stderr=some more text", fakeagent.Script{Text: "answer", Stderr: []string{"some more text"}}},
		{"quoted value ends at its quote", `stderr="warned here" then answer`, fakeagent.Script{Stderr: []string{"warned here"}, Text: "then answer"}},
		{"tool with a command", "tool=Bash:echo hi lines=3", fakeagent.Script{Tools: []fakeagent.Tool{{Name: "Bash", Input: "echo hi"}}, Lines: 3}},
		{"repeated tools", "tool=Bash:ls -la tool=Read:/etc/hosts", fakeagent.Script{Tools: []fakeagent.Tool{{Name: "Bash", Input: "ls -la"}, {Name: "Read", Input: "/etc/hosts"}}}},
		{"flags", "tool-exec=1 stdin=1 trap=1 bytes=4096 interval=5ms", fakeagent.Script{ToolExec: true, Stdin: true, Trap: true, Bytes: 4096, Interval: 5 * time.Millisecond}},
		{"bare crash", "crash", fakeagent.Script{Crash: "KILL"}},
		{"crash with a signal", "crash=SIGTERM", fakeagent.Script{Crash: "TERM"}},
		{"model and session", "model=opus session=abc", fakeagent.Script{Model: "opus", Session: "abc"}},
		{"unknown keys are text", "foo=bar x=1 crashing", fakeagent.Script{Text: "foo=bar x=1 crashing"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fakeagent.Parse(tc.prompt)
			require.NoError(t, err)
			if tc.want.Model == "" {
				tc.want.Model = fakeagent.DefaultModel
			}
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseRejectsBadValuesNamingTheDirective(t *testing.T) {
	t.Parallel()
	for prompt, want := range map[string]string{
		"exit=256":      "exit=\"256\" must be an integer in 0..255",
		"exit=x":        "exit=\"x\" must be an integer in 0..255",
		"sleep=forever": "sleep=\"forever\" must be a Go duration",
		"lines=-1":      "lines=\"-1\" must be an integer",
		"tool=nocolon":  "tool=\"nocolon\" must be NAME:INPUT",
		"crash=FOO":     "crash=\"FOO\" must name a signal",
		`stderr="open`:  "stderr: the quoted value has no closing quote",
		"stdin=maybe":   "stdin=\"maybe\" must be 1 or 0",
	} {
		_, err := fakeagent.Parse(prompt)
		require.ErrorContains(t, err, want, prompt)
	}
}

func TestPrompt(t *testing.T) {
	t.Parallel()
	require.Equal(t, "a b", fakeagent.Prompt([]string{"a", "b"}))
	require.Equal(t, "the task", fakeagent.Prompt([]string{"-p", "the task", "--output-format", "stream-json", "--verbose"}))
}

// run acts out prompt and returns stdout lines decoded, stderr and the exit code.
func run(t *testing.T, prompt, stdin string) ([]map[string]any, string, int) {
	t.Helper()
	s, err := fakeagent.Parse(prompt)
	require.NoError(t, err)
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code := fakeagent.Run(ctx, s, fakeagent.Streams{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Cwd: t.TempDir()})
	var events []map[string]any
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &ev), "every line is JSON: %s", sc.Text())
		events = append(events, ev)
	}
	return events, errb.String(), code
}

func blockOf(t *testing.T, ev map[string]any) map[string]any {
	t.Helper()
	content := ev["message"].(map[string]any)["content"].([]any)
	require.Len(t, content, 1, "one content block per event, like the real CLI")
	return content[0].(map[string]any)
}

func TestOutputHasClaudeStreamJSONShape(t *testing.T) {
	t.Parallel()
	events, stderr, code := run(t, "hello there tool=Bash:echo hi stderr=careful", "")
	require.Equal(t, 0, code)
	require.Equal(t, "careful\n", stderr)
	types := []string{}
	for _, ev := range events {
		types = append(types, ev["type"].(string))
	}
	require.Equal(t, []string{"system", "assistant", "assistant", "user", "assistant", "result"}, types)

	init := events[0]
	require.Equal(t, "init", init["subtype"])
	sid := init["session_id"].(string)
	require.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, sid)
	require.NotEmpty(t, init["cwd"])
	require.Contains(t, init["tools"], "Bash")
	require.Equal(t, fakeagent.DefaultModel, init["model"])

	require.Equal(t, map[string]any{"type": "text", "text": "I'll run that."}, blockOf(t, events[1]))
	use := blockOf(t, events[2])
	require.Equal(t, "tool_use", use["type"])
	require.Equal(t, "Bash", use["name"])
	require.Equal(t, "echo hi", use["input"].(map[string]any)["command"])
	// Blocks of one message share its id.
	require.Equal(t, events[1]["message"].(map[string]any)["id"], events[2]["message"].(map[string]any)["id"])

	res := blockOf(t, events[3])
	require.Equal(t, "tool_result", res["type"])
	require.Equal(t, use["id"], res["tool_use_id"])
	require.Equal(t, "hi", res["content"])
	require.Equal(t, false, res["is_error"])
	require.Equal(t, "hi", events[3]["tool_use_result"].(map[string]any)["stdout"])

	require.Equal(t, "hello there", blockOf(t, events[4])["text"])

	result := events[5]
	require.Equal(t, "success", result["subtype"])
	require.Equal(t, false, result["is_error"])
	require.Equal(t, "hello there", result["result"])
	require.Equal(t, sid, result["session_id"])
	require.EqualValues(t, 2, result["num_turns"])
	require.Greater(t, result["total_cost_usd"].(float64), 0.0)
	usage := result["usage"].(map[string]any)
	for _, k := range []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} {
		require.Contains(t, usage, k)
	}
	require.Greater(t, usage["output_tokens"].(float64), 0.0)
	mu := result["modelUsage"].(map[string]any)[fakeagent.DefaultModel].(map[string]any)
	require.Equal(t, result["total_cost_usd"], mu["costUSD"])
	for _, ev := range events {
		require.Equal(t, sid, ev["session_id"])
	}
}

func TestNonZeroExitIsAnErrorResult(t *testing.T) {
	t.Parallel()
	events, _, code := run(t, "nope exit=3", "")
	require.Equal(t, 3, code)
	last := events[len(events)-1]
	require.Equal(t, "result", last["type"])
	require.Equal(t, true, last["is_error"])
	require.Equal(t, "error_during_execution", last["subtype"])
}

func TestLinesAndBytes(t *testing.T) {
	t.Parallel()
	events, _, _ := run(t, "lines=1000", "")
	require.Len(t, events, 1+1000+1+1)
	require.Equal(t, "line 1 of 1000", blockOf(t, events[1])["text"])
	require.Equal(t, "line 1000 of 1000", blockOf(t, events[1000])["text"])
	require.Equal(t, "result", events[len(events)-1]["type"])

	s, err := fakeagent.Parse("bytes=100001")
	require.NoError(t, err)
	var out bytes.Buffer
	fakeagent.Run(context.Background(), s, fakeagent.Streams{Stdout: &out, Stderr: &bytes.Buffer{}})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	raw := 0
	for _, l := range lines[1 : len(lines)-2] {
		raw += len(l) + 1
		require.Equal(t, strings.Repeat("x", len(l)), l)
	}
	require.Equal(t, 100001, raw)
}

func TestToolExecRunsTheCommand(t *testing.T) {
	t.Parallel()
	events, _, _ := run(t, "tool=Bash:printf real; exit 4 tool-exec=1", "")
	res := blockOf(t, events[3])
	require.Equal(t, true, res["is_error"])
	require.Contains(t, res["content"], "real")
	require.Contains(t, res["content"], "exit status 4")
	require.Equal(t, "Tool said: "+res["content"].(string), events[len(events)-1]["result"])

	// Without tool-exec nothing runs: the marker file is not created.
	dir := t.TempDir()
	s, err := fakeagent.Parse("tool=Bash:touch " + dir + "/marker")
	require.NoError(t, err)
	fakeagent.Run(context.Background(), s, fakeagent.Streams{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}, Cwd: dir})
	require.NoFileExists(t, dir+"/marker")
}

func TestStdinTurns(t *testing.T) {
	t.Parallel()
	stdin := "first turn\n" + `{"type":"user","message":{"role":"user","content":[{"type":"text","text":"second turn"}]}}` + "\n"
	events, _, code := run(t, "stdin=1", stdin)
	require.Equal(t, 0, code)
	var results []string
	for _, ev := range events {
		if ev["type"] == "result" {
			results = append(results, ev["result"].(string))
		}
	}
	require.Equal(t, []string{"first turn", "second turn"}, results)
	require.Equal(t, "system", events[0]["type"])
	require.Equal(t, true, events[1]["isReplay"])
}

func TestCrashCallsTheHookAfterInit(t *testing.T) {
	t.Parallel()
	s, err := fakeagent.Parse("crash=TERM")
	require.NoError(t, err)
	var out bytes.Buffer
	var got string
	fakeagent.Run(context.Background(), s, fakeagent.Streams{Stdout: &out, Stderr: &bytes.Buffer{}, Crash: func(sig string) { got = sig }})
	require.Equal(t, "TERM", got)
	require.Equal(t, 1, strings.Count(out.String(), "\n"))
	require.Contains(t, out.String(), `"subtype":"init"`)
}

func TestSleepStopsWithContext(t *testing.T) {
	t.Parallel()
	s, err := fakeagent.Parse("sleep=1m")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	code := fakeagent.Run(ctx, s, fakeagent.Streams{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	require.Equal(t, 130, code)
	require.Less(t, time.Since(start), 5*time.Second)
}

// writes records each write call with the time it came.
type writes struct {
	calls []string
	at    []time.Time
}

func (w *writes) Write(p []byte) (int, error) {
	w.calls = append(w.calls, string(p))
	w.at = append(w.at, time.Now())
	return len(p), nil
}

func TestPiecesArePrintedOneWriteEachWithTheirPauses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "p.json"),
		[]byte(`[{"stdout":"key: AKIA","pause":"30ms"},{"stdout":"0123\n"},{"stderr":"half"},{"stderr":" two\n"}]`), 0o600))
	s, err := fakeagent.Parse("pieces=p.json answer")
	require.NoError(t, err)
	require.Equal(t, "p.json", s.Pieces)
	var out, errw writes
	fakeagent.Run(context.Background(), s, fakeagent.Streams{Stdout: &out, Stderr: &errw, Cwd: dir})
	require.GreaterOrEqual(t, len(out.calls), 3, "init, two pieces, the answer")
	i := slices.Index(out.calls, "key: AKIA")
	require.Positive(t, i, "the first piece is one write, after the init event")
	require.Equal(t, "0123\n", out.calls[i+1])
	require.GreaterOrEqual(t, out.at[i+1].Sub(out.at[i]), 30*time.Millisecond, "the pause is kept")
	require.Equal(t, []string{"half", " two\n"}, errw.calls)
	require.Contains(t, strings.Join(out.calls[i+2:], ""), `"result":"answer"`)

	s, err = fakeagent.Parse("pieces=missing.json")
	require.NoError(t, err)
	var stderr bytes.Buffer
	fakeagent.Run(context.Background(), s, fakeagent.Streams{Stdout: &bytes.Buffer{}, Stderr: &stderr, Cwd: dir})
	require.Contains(t, stderr.String(), "could not read the pieces")
}
