package launch_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

func compile(t *testing.T, name string) *launch.Compiled {
	t.Helper()
	c, err := launch.Compile(launch.Builtin()[name])
	require.NoError(t, err)
	return c
}

func TestBuiltinCommandLines(t *testing.T) {
	t.Parallel()
	prompt := `fix "it"; rm -rf / $(whoami)` // one argument, never a shell string
	for _, tc := range []struct {
		agent, model string
		want         []string
	}{
		{"claude", "", []string{"-p", prompt, "--output-format", "stream-json", "--verbose"}},
		{"claude", "sonnet", []string{"-p", prompt, "--output-format", "stream-json", "--verbose", "--model", "sonnet"}},
		{"codex", "", []string{"exec", "--json", prompt}},
		{"codex", "gpt-5", []string{"exec", "--json", prompt, "-m", "gpt-5"}},
		{"gemini", "", []string{"-p", prompt, "-o", "stream-json"}},
		{"fake", "m1", []string{prompt, "model=m1"}},
	} {
		args, _, err := compile(t, tc.agent).Render(launch.Data{Agent: tc.agent, Prompt: prompt, Model: tc.model})
		require.NoError(t, err)
		require.Equal(t, tc.want, args, "%s model=%q", tc.agent, tc.model)
	}
	args, env, err := compile(t, "fake").Render(launch.Data{Prompt: "x"})
	require.NoError(t, err)
	require.Equal(t, []string{"x"}, args, "no model, no model argument")
	require.Equal(t, []string{"PHANTOM_FAKE_AGENT=1"}, env)
	require.Equal(t, []string{"claude", "codex", "fake", "gemini"}, launch.Names(launch.Builtin()))
	require.Equal(t, "npm install -g @anthropic-ai/claude-code", launch.Builtin()["claude"].Install)
}

func TestCompileRejectsBadTemplates(t *testing.T) {
	t.Parallel()
	_, err := launch.Compile(launch.Template{Agent: "x", Command: "x", Args: []string{"{{.Prompt"}})
	require.ErrorContains(t, err, `agent x: argument "{{.Prompt" is not a valid template`)
	_, err = launch.Compile(launch.Template{Agent: "x", Command: "x", Env: []string{"NOVALUE"}})
	require.ErrorContains(t, err, "must be KEY=VALUE")
	_, err = launch.Compile(launch.Template{Agent: "x", Command: "x", Optional: []launch.Optional{{If: "Nope", Args: []string{"-n"}}}})
	require.ErrorContains(t, err, `optional arguments depend on "Nope"`)
	c, err := launch.Compile(launch.Template{Agent: "x", Command: "x", Args: []string{"{{.Nope}}"}})
	require.NoError(t, err)
	_, _, err = c.Render(launch.Data{})
	require.ErrorContains(t, err, "Nope")
}
