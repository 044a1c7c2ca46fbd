package hook_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/hook"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/corpus"
)

// FuzzHandle holds the hook to its contract on any stdin, in every protocol
// and mode: no panic, exit 0, and stdout either empty (allow) or one JSON
// document that denies in the agent's format.
func FuzzHandle(f *testing.F) {
	// Seeds: the hook-protocol corpus when it is there, and a few shapes.
	if root := corpus.RepoRoot(); root != "" {
		path := filepath.Join(filepath.Dir(root), "shared", "conformance", "safety-net-hook-protocol.jsonl")
		if _, err := os.Stat(path); err == nil {
			for _, c := range corpus.Read(f, path, func(*hookCase, int) {}) {
				f.Add(c.Stdin, uint8(0))
			}
		}
	}
	for _, s := range []string{
		`{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"git reset --hard"},"cwd":"/tmp"}`,
		`{"hook_event_name":"BeforeTool","tool_name":"run_shell_command","tool_input":{"command":"rm -rf /"}}`,
		`{"toolName":"bash","toolArgs":"{\"command\":\"git push -f\"}"}`,
		`{"tool_name":"shell","tool_input":{"command":["git","clean","-fdx"]}}`,
		`{"tool_name":"PowerShell","tool_input":{"command":"Remove-Item -Recurse -Force C:\\"}}`,
		`{not json`, ``, `null`, `[]`, `{"tool_input":{"command":7}}`,
	} {
		f.Add(s, uint8(0x81))
	}
	eng := policy.New()
	agents := []hook.Agent{hook.AgentAuto, hook.AgentClaudeCode, hook.AgentCodex, hook.AgentGeminiCLI, hook.AgentCopilotCLI}
	judge := func(r policy.Request) policy.Decision {
		r.Cwd = "/tmp/project"
		return eng.Check(context.Background(), r)
	}
	f.Fuzz(func(t *testing.T, stdin string, sel uint8) {
		opts := []hook.Option{hook.WithAgent(agents[int(sel&0x7f)%len(agents)])}
		if sel&0x80 != 0 {
			opts = append(opts, hook.WithMode(guard.ModeStrict))
		}
		out, code := hook.Handle([]byte(stdin), judge, opts...)
		if code != 0 {
			t.Fatalf("exit %d for %q", code, stdin)
		}
		if len(out) == 0 {
			return
		}
		if !json.Valid(out) || !strings.Contains(string(out), `"deny"`) {
			t.Fatalf("an answer must be one JSON denial: %q", out)
		}
	})
}
