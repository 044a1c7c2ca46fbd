package agents

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

func TestBuiltinsAndSupport(t *testing.T) {
	defs, err := Load("agents.toml", nil)
	require.NoError(t, err)
	require.Equal(t, []string{"claude", "codex", "fake", "gemini"}, Names(defs))
	c := defs["claude"]
	v, err := c.ParseVersion("2.1.197 (Claude Code)\n")
	require.NoError(t, err)
	require.Equal(t, "2.1.197", v)
	s, _ := c.Support(v)
	require.Equal(t, Supported, s)
	s, why := c.Support("0.2.9")
	require.Equal(t, Blocked, s)
	require.Contains(t, why, "npm install -g @anthropic-ai/claude-code")
	s, _ = c.Support("1.5.0")
	require.Equal(t, Degraded, s)
	v, _ = defs["codex"].ParseVersion("codex-cli 0.169.0")
	require.Equal(t, "0.169.0", v)
	args, _, err := defs["codex"].Template().Render(launchData("fix it", "gpt-5.5"))
	require.NoError(t, err)
	require.Equal(t, []string{"exec", "--json", "--skip-git-repo-check", "fix it", "-m", "gpt-5.5"}, args)
}

func TestFileChangesAndAdds(t *testing.T) {
	defs, err := Load("agents.toml", []byte(`
[agents.claude]
default_model = "opus"
[agents.aider]
command = "aider"
args = ["--message", "{{.Prompt}}"]
[agents.aider.versions]
supported = ">= 0.80"
`))
	require.NoError(t, err)
	require.Equal(t, "opus", defs["claude"].DefaultModel)
	require.Equal(t, "claude", defs["claude"].Command, "keys left out keep the built-in value")
	require.Equal(t, AdapterRaw, defs["aider"].Adapter)
	require.Equal(t, "aider", defs["aider"].Provider)
	s, _ := defs["aider"].Support("0.86.1")
	require.Equal(t, Supported, s)
}

func TestBadFilesNameTheField(t *testing.T) {
	for doc, want := range map[string]string{
		"[agents.x]\nargs=[\"{{.Prompt}}\"]":                                             "agents.x.command",
		"[agents.x]\ncommand=\"x\"\nargs=[\"a\"]\nadapter=\"nope\"":                      "agents.x.adapter",
		"[agents.x]\ncommand=\"x\"\nargs=[\"a\"]\n[agents.x.versions]\nsupported=\"~~\"": "agents.x.versions.supported",
		"[agents.x]\ncommand=\"x\"\nargs=[\"a\"]\ncolour=\"red\"":                        "unknown key agents.x.colour",
		"[agents.\"a.b\"]\ncommand=\"x\"\nargs=[\"a\"]":                                  "agents.a.b.name",
		"[agents.x]\ncommand=\"x\"\nargs=[\"{{.Prompt\"]":                                "not a valid template",
	} {
		_, err := Load("agents.toml", []byte(doc))
		require.ErrorContains(t, err, want, doc)
	}
}

func launchData(prompt, model string) launch.Data { return launch.Data{Prompt: prompt, Model: model} }
