package launch_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

func TestRender(t *testing.T) {
	t.Parallel()
	prompt := `fix "it"; rm -rf / $(whoami)` // one argument, never a shell string
	c, err := launch.Compile(launch.Template{Agent: "a", Command: "a", Args: []string{"-p", "{{.Prompt}}"},
		Optional: []launch.Optional{{If: "Model", Args: []string{"--model", "{{.Model}}"}}}, Env: []string{"RUN={{.RunID}}"}})
	require.NoError(t, err)
	args, env, err := c.Render(launch.Data{Prompt: prompt, RunID: "r1"})
	require.NoError(t, err)
	require.Equal(t, []string{"-p", prompt}, args)
	require.Equal(t, []string{"RUN=r1"}, env)
	args, _, err = c.Render(launch.Data{Prompt: prompt, Model: "sonnet"})
	require.NoError(t, err)
	require.Equal(t, []string{"-p", prompt, "--model", "sonnet"}, args)
}

func TestPlanSettingsMerge(t *testing.T) {
	t.Parallel()
	p := &launch.Plan{Args: []string{"a", "b", "a"}}
	require.True(t, p.RemoveArg("a"))
	require.Equal(t, []string{"b", "a"}, p.Args)
	p.MergeSettings(map[string]any{"x": map[string]any{"y": 1, "l": []any{1}}})
	p.MergeSettings(map[string]any{"x": map[string]any{"z": 2, "l": []any{2}}})
	require.Equal(t, map[string]any{"x": map[string]any{"y": 1, "z": 2, "l": []any{1, 2}}}, p.Settings)
	_, err := p.AddFile("f", []byte("secret"))
	require.ErrorContains(t, err, "no private directory for f")
	p.Dir = "/private/run1"
	path, err := p.AddFile("f", []byte("secret"))
	require.NoError(t, err)
	require.Equal(t, "/private/run1/f", path)
	require.Equal(t, []launch.File{{Name: "f", Data: []byte("secret")}}, p.Files)
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
