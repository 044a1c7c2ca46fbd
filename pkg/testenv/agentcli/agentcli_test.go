package agentcli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/testenv/agentcli"
	"github.com/phantom-run/phantom/pkg/testenv/modelapi"
)

// args are each CLI's headless command line for a prompt.
func args(cli, prompt string) []string {
	switch cli {
	case agentcli.Claude:
		return []string{"-p", prompt, "--output-format", "stream-json", "--verbose", "--permission-mode", "bypassPermissions"}
	case agentcli.Codex:
		return []string{"exec", "--json", "--skip-git-repo-check", prompt}
	}
	return []string{"-p", prompt, "-o", "stream-json", "--skip-trust", "--yolo"}
}

func run(t *testing.T, cli string, api *modelapi.Server, prompt string) (string, int) {
	t.Helper()
	path := agentcli.Find(t, cli)
	dir := t.TempDir()
	work := filepath.Join(dir, "work")
	require.NoError(t, os.MkdirAll(work, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args(cli, prompt)...)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), agentcli.Env(t, dir, api.URL)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err, errb.String())
	}
	t.Logf("%s stderr: %s", cli, errb.String())
	return out.String(), code
}

// TestRealCLIsAgainstTheFakeAPI drives each pinned CLI through the fake
// model API: a plain answer, a shell tool call and its result, an API error.
func TestRealCLIsAgainstTheFakeAPI(t *testing.T) {
	for _, cli := range []string{agentcli.Claude, agentcli.Codex, agentcli.Gemini} {
		t.Run(cli, func(t *testing.T) {
			t.Parallel()
			api := modelapi.Start(t)

			out, code := run(t, cli, api, "say hello")
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "Hello from fake model")

			out, code = run(t, cli, api, "FAKE_CMD=echo tool-ran-here")
			require.Equal(t, 0, code, out)
			require.Contains(t, out, "Tool said:")
			require.Contains(t, out, "tool-ran-here")
			var sawResult bool
			for _, r := range api.AgentRequests() {
				if res, ok := r.LastToolResult(); ok && strings.Contains(res.Text, "tool-ran-here") {
					sawResult = true
				}
			}
			require.True(t, sawResult, "the tool's output came back to the model")

			out, code = run(t, cli, api, "FAKE_ERROR=400")
			require.NotEqual(t, 0, code, out)
			require.Contains(t, out, "400")
		})
	}
}
