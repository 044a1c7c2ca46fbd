package harness

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

func ptr[T any](v T) *T { return &v }

func warned(p *launch.Plan) []string {
	var out []string
	for _, w := range p.Warnings {
		out = append(out, w.Option)
	}
	return out
}

func TestClaude(t *testing.T) {
	p := &launch.Plan{Args: []string{"-p", "do it", "--output-format", "stream-json", "--verbose"}, Dir: "/private/run1"}
	h := runs.Harness{AllowedTools: []string{"Read"}, CLIAllowlist: []string{"git"}, DisallowedTools: []string{"WebFetch"},
		AutoApprove: ptr(true), MaxTurns: ptr(3), MCPConfig: json.RawMessage(`{"mcpServers":{}}`), AppendSystemPrompt: "be brief",
		Sandbox: "read-only", MaxToolResultLines: ptr(100), TimeoutMs: ptr(60000), Env: map[string]string{"FOO": "1", "PHANTOM_X": "no"}}
	require.NoError(t, Apply(Facts{Adapter: "claude", Version: "2.1.197", Root: true, Prompt: "do it"}, h, true, "sess-1", p))
	args := strings.Join(p.Args, " ")
	for _, want := range []string{"--allowedTools Read,Bash(git:*)", "--disallowedTools WebFetch", "--permission-mode bypassPermissions",
		"--max-turns 3", "--append-system-prompt be brief", "--resume sess-1", "--input-format stream-json"} {
		require.Contains(t, args, want)
	}
	require.NotContains(t, p.Args, "do it", "an interactive prompt goes to stdin")
	require.Contains(t, string(p.Input), `"content":"do it"`)
	require.Contains(t, p.Env, "IS_SANDBOX=1")
	require.Contains(t, p.Env, "FOO=1")
	require.ElementsMatch(t, []string{OptSandbox, OptMaxToolResultLines, OptEnv}, warned(p))
	i := strings.Index(args, "--mcp-config ")
	require.Equal(t, "/private/run1/mcp.json", strings.Fields(args[i:])[1], "the MCP configuration is a file of the attempt's private directory")
	require.Equal(t, []launch.File{{Name: "mcp.json", Data: []byte(`{"mcpServers":{}}`)}}, p.Files)
	require.Equal(t, 60000, int(p.Timeout.Milliseconds()))

	p.MergeSettings(map[string]any{"hooks": map[string]any{"PreToolUse": []any{"a"}}})
	p.MergeSettings(map[string]any{"hooks": map[string]any{"PreToolUse": []any{"b"}}})
	require.NoError(t, FinalizeClaude(p))
	require.Equal(t, `{"hooks":{"PreToolUse":["a","b"]}}`, p.Args[len(p.Args)-1])
}

func TestCodexAndGeminiDropWhatTheyCannotHonour(t *testing.T) {
	h := runs.Harness{AllowedTools: []string{"Read"}, MaxTurns: ptr(2), Sandbox: "read-only", PermissionMode: "acceptEdits", ForkSession: true}
	p := &launch.Plan{Args: []string{"exec", "--json", "go"}}
	require.NoError(t, Apply(Facts{Adapter: "codex", Version: "0.169.0", Prompt: "go"}, h, true, "thread-9", p))
	require.Equal(t, []string{"exec", "--json", "--sandbox", "read-only", "resume", "thread-9", "go"}, p.Args)
	require.ElementsMatch(t, []string{OptAllowedTools, OptMaxTurns, OptPermissionMode, OptForkSession, OptInteractive}, warned(p))

	p = &launch.Plan{Args: []string{"-p", "go"}}
	require.NoError(t, Apply(Facts{Adapter: "gemini", Version: "0.61.0", Prompt: "go"}, h, false, "", p))
	require.Equal(t, []string{"-p", "go", "--allowed-tools", "Read", "--approval-mode", "auto_edit"}, p.Args)
	require.ElementsMatch(t, []string{OptMaxTurns, OptSandbox, OptForkSession}, warned(p))
}

func TestOldVersionsDropNewOptions(t *testing.T) {
	p := &launch.Plan{Args: []string{"exec", "go"}}
	require.NoError(t, Apply(Facts{Adapter: "codex", Version: "0.20.0", Prompt: "go"}, runs.Harness{}, false, "thread-1", p))
	require.Equal(t, []string{"exec", "go"}, p.Args)
	require.Len(t, p.Warnings, 1)
	require.Contains(t, p.Warnings[0].Reason, "needs 0.30.0")
	require.NotContains(t, Options("codex", "0.20.0"), OptResumeSessionID)
	require.Contains(t, Options("codex", "0.169.0"), OptResumeSessionID)
	require.Equal(t, []string{OptEnv, OptShellPrelude, OptTimeoutMs}, Options("raw", ""))
}
