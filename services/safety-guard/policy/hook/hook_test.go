package hook_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/hook"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/corpus"
)

// hookCase is one line of safety-net-hook-protocol.jsonl.
type hookCase struct {
	Line     int               `json:"-"`
	Agent    string            `json:"agent"`
	Stdin    string            `json:"stdin"`
	Expect   string            `json:"expect"`
	Mode     string            `json:"mode"`
	Env      map[string]string `json:"env"`
	Stdout   string            `json:"stdout"`
	ExitCode int               `json:"exit_code"`
}

// engineJudge judges in process, the way `phantom guard hook` does without
// the service.
func engineJudge(home string) hook.Judge {
	// Generous: the race detector and a loaded machine slow the engine; the
	// policy package's fuzz test holds the 10 ms bound.
	eng := policy.New(policy.WithTimeout(2 * time.Second))
	return func(r policy.Request) policy.Decision {
		r.Env = map[string]string{"HOME": home, "TMPDIR": "/tmp"}
		return eng.Check(context.Background(), r)
	}
}

// reasonLineRe matches the reason line of a block message: reason texts are
// a hint in the corpus, decisions and the message frame are what must agree.
var reasonLineRe = regexp.MustCompile(`Reason: [^\n]*`)

// rawReasonRe is reasonLineRe on undecoded JSON text, where the line ends
// at an escaped newline or the end of the string.
var rawReasonRe = regexp.MustCompile(`Reason: (?:[^\\"]|\\[^n])*`)

// normalise decodes a hook answer and blanks its reason lines.
func normalise(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), "hook output is not JSON: %q", out)
	var walk func(any) any
	walk = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(e)
			}
			return x
		case string:
			return reasonLineRe.ReplaceAllString(x, "Reason: <reason>")
		}
		return x
	}
	return walk(v).(map[string]any)
}

func TestHookProtocolCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	cases := corpus.Read(t, filepath.Join(dir, "safety-net-hook-protocol.jsonl"), func(c *hookCase, n int) { c.Line = n })
	require.Len(t, cases, 34)
	repo := t.TempDir()
	judge := engineJudge(t.TempDir())
	agree := map[string][2]int{}
	for _, c := range cases {
		agent, err := hook.ParseAgent(c.Agent)
		require.NoError(t, err, "line %d", c.Line)
		mode, err := guard.ParseMode(c.Mode)
		require.NoError(t, err, "line %d", c.Line)
		stdin := strings.ReplaceAll(c.Stdin, "{REPO}", repo)
		out, code := hook.Handle([]byte(stdin), judge, hook.WithAgent(agent), hook.WithMode(mode))
		n := agree[c.Agent]
		n[1]++
		ok := t.Run(strings.ReplaceAll(c.Agent, "/", "_")+"_line_"+itoa(c.Line), func(t *testing.T) {
			require.Equal(t, c.ExitCode, code)
			if c.Stdout == "" {
				require.Empty(t, string(out), "expected no output (allow)")
				return
			}
			require.NotEmpty(t, out, "expected a denial")
			if !json.Valid([]byte(c.Stdout)) {
				// The capture cut some long answers; the part kept must match.
				want := rawReasonRe.ReplaceAllString(c.Stdout, "Reason: <reason>")
				got := rawReasonRe.ReplaceAllString(string(out), "Reason: <reason>")
				require.True(t, strings.HasPrefix(got, want), "answer %q does not start with %q", got, want)
				return
			}
			require.Equal(t, normalise(t, c.Stdout), normalise(t, string(out)))
		})
		if ok {
			n[0]++
		}
		agree[c.Agent] = n
	}
	for _, agent := range []string{"claude-code", "gemini-cli", "copilot-cli"} {
		n := agree[agent]
		t.Logf("%-12s %d/%d cases agree", agent, n[0], n[1])
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestParseShapes(t *testing.T) {
	tests := []struct {
		name    string
		stdin   string
		agent   hook.Agent
		ok      bool
		command string
		cwd     string
		shell   policy.Shell
	}{
		{name: "claude bash", stdin: `{"session_id":"s","cwd":"/p","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls","description":"d"}}`,
			agent: hook.AgentClaudeCode, ok: true, command: "ls", cwd: "/p", shell: policy.ShellBash},
		{name: "claude powershell", stdin: `{"hook_event_name":"PreToolUse","tool_name":"PowerShell","tool_input":{"command":"Remove-Item x"}}`,
			agent: hook.AgentClaudeCode, ok: true, command: "Remove-Item x", shell: policy.ShellPowerShell},
		{name: "claude post tool use is not judged", stdin: `{"hook_event_name":"PostToolUse","tool_name":"Bash","tool_input":{"command":"rm -rf /"}}`,
			agent: hook.AgentClaudeCode},
		{name: "codex argv command", stdin: `{"hook_event_name":"PreToolUse","tool_name":"shell","tool_input":{"command":["bash","-lc","rm -rf /"]}}`,
			agent: hook.AgentClaudeCode, ok: true, command: `bash -lc 'rm -rf /'`, shell: policy.ShellBash},
		{name: "gemini", stdin: `{"hook_event_name":"BeforeTool","tool_name":"run_shell_command","tool_input":{"command":"ls"},"cwd":"/g"}`,
			agent: hook.AgentGeminiCLI, ok: true, command: "ls", cwd: "/g", shell: policy.ShellBash},
		{name: "gemini other tool", stdin: `{"hook_event_name":"BeforeTool","tool_name":"read_file","tool_input":{"path":"x"}}`,
			agent: hook.AgentGeminiCLI},
		{name: "copilot string args", stdin: `{"timestamp":1,"cwd":"/c","toolName":"bash","toolArgs":"{\"command\":\"ls\"}"}`,
			agent: hook.AgentCopilotCLI, ok: true, command: "ls", cwd: "/c", shell: policy.ShellBash},
		{name: "copilot object args", stdin: `{"toolName":"bash","toolArgs":{"command":"ls"}}`,
			agent: hook.AgentCopilotCLI, ok: true, command: "ls", shell: policy.ShellBash},
		{name: "command of the wrong type", stdin: `{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":42}}`,
			agent: hook.AgentClaudeCode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, ok, err := hook.Parse([]byte(tt.stdin), hook.AgentAuto)
			require.NoError(t, err)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.agent, call.Agent)
			if tt.ok {
				require.Equal(t, tt.command, call.Command)
				require.Equal(t, tt.cwd, call.Cwd)
				require.Equal(t, tt.shell, call.Shell)
			}
		})
	}
}

func TestHandleBlocksArgvCommand(t *testing.T) {
	// Codex sends argv; the quoted command line must still reach the rules.
	stdin := `{"hook_event_name":"PreToolUse","tool_name":"shell","tool_input":{"command":["bash","-lc","git reset --hard"]}}`
	out, code := hook.Handle([]byte(stdin), engineJudge(t.TempDir()), hook.WithAgent(hook.AgentCodex))
	require.Equal(t, 0, code)
	require.Contains(t, string(out), `"permissionDecision":"deny"`)
	require.Contains(t, string(out), "git reset --hard destroys")
}

func TestHandlePassesCwdAndMode(t *testing.T) {
	var got policy.Request
	judge := func(r policy.Request) policy.Decision {
		got = r
		return policy.Decision{Decision: guard.Allow}
	}
	stdin := `{"hook_event_name":"PreToolUse","tool_name":"Bash","cwd":"/work/p","tool_input":{"command":"ls"}}`
	out, code := hook.Handle([]byte(stdin), judge, hook.WithMode(guard.ModeStrict|guard.ModeWorktree))
	require.Empty(t, out)
	require.Equal(t, 0, code)
	require.Equal(t, policy.Request{Command: "ls", Cwd: "/work/p", Mode: guard.ModeStrict | guard.ModeWorktree, Shell: policy.ShellBash}, got)
}

func TestFormatMessage(t *testing.T) {
	msg := hook.FormatMessage("because", "GITHUB_TOKEN=abc123 git push --force", "git push --force")
	require.Equal(t, "BLOCKED by Safety Net\n\nReason: because\n\nCommand: GITHUB_TOKEN=<redacted> git push --force\n\nSegment: git push --force\n\nIf this operation is truly needed, ask the user for explicit permission and have them run the command manually.", msg)

	long := strings.Repeat("é", 300)
	msg = hook.FormatMessage("r", long, "")
	require.Contains(t, msg, "...")
	require.NotContains(t, msg, "Segment:")
	require.True(t, strings.Contains(msg, strings.Repeat("é", 100)))
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"curl -H 'Authorization: Bearer xyz' https://a": "curl -H 'Authorization: <redacted>' https://a",
		"git clone https://user:pw@github.com/x":        "git clone https://<redacted>:<redacted>@github.com/x",
		"echo ghp_abcdefghijklmnopqrstuvwxyz0123":       "echo <redacted>",
		"API_KEY=s3cret DB_PASSWORD=hunter2 ./run":      "API_KEY=<redacted> DB_PASSWORD=<redacted> ./run",
		"ls -la": "ls -la",
	}
	for in, want := range tests {
		require.Equal(t, want, hook.Redact(in), in)
	}
}

func TestParseAgent(t *testing.T) {
	for _, s := range []string{"", "auto", "claude-code", "codex", "gemini-cli", "copilot-cli", " Gemini-CLI "} {
		_, err := hook.ParseAgent(s)
		require.NoError(t, err, s)
	}
	_, err := hook.ParseAgent("cursor")
	require.ErrorContains(t, err, `allowed values are "auto", "claude-code", "codex", "gemini-cli" and "copilot-cli"`)
}
