// Package agentcli finds the real agent CLIs (Claude Code, Codex, Gemini CLI)
// that `make agent-clis` installs at pinned versions, and gives each test an
// isolated environment that points them at a fake model API
// (pkg/testenv/modelapi): a HOME and CODEX_HOME of its own, the settings
// files each CLI needs to run offline, fake keys, bounded retries.
//
// Where they are looked for, first found wins:
//
//	$PHANTOM_AGENT_CLIS_DIR/node_modules/.bin
//	$XDG_CACHE_HOME/phantom/agent-clis/node_modules/.bin (default ~/.cache/...), where `make agent-clis` installs
//	<repository>/tools/agent-clis/node_modules/.bin       (an `npm ci` in place)
//
// A missing CLI skips the test, except under CI=true, where it fails it.
package agentcli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The CLIs, by Phantom agent name.
const (
	Claude = "claude"
	Codex  = "codex"
	Gemini = "gemini"
)

// Versions are the pinned versions (tools/agent-clis/package.json), the
// ones the transcripts in shared/reference were captured with.
var Versions = map[string]string{Claude: "2.1.197", Codex: "0.169.0", Gemini: "0.61.0"}

// Packages are the npm packages of the CLIs.
var Packages = map[string]string{Claude: "@anthropic-ai/claude-code", Codex: "@openai/codex", Gemini: "@google/gemini-cli"}

// Dirs lists the directories searched, in order.
func Dirs() []string {
	var dirs []string
	if d := os.Getenv("PHANTOM_AGENT_CLIS_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "node_modules", ".bin"))
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		if home, err := os.UserHomeDir(); err == nil {
			cache = filepath.Join(home, ".cache")
		}
	}
	if cache != "" {
		dirs = append(dirs, filepath.Join(cache, "phantom", "agent-clis", "node_modules", ".bin"))
	}
	if root := repoRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, "tools", "agent-clis", "node_modules", ".bin"))
	}
	return dirs
}

// repoRoot is the directory holding go.work above the working directory.
func repoRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Lookup returns the absolute path of a CLI at its pinned version, or an
// error saying what is wrong.
func Lookup(name string) (string, error) {
	want, ok := Versions[name]
	if !ok {
		return "", fmt.Errorf("unknown agent CLI %q (known: claude, codex, gemini)", name)
	}
	var tried []string
	for _, dir := range Dirs() {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			tried = append(tried, p)
			continue
		}
		got, err := version(p)
		if err != nil {
			return "", fmt.Errorf("%s does not run: %w", p, err)
		}
		if !strings.Contains(got, want) {
			return "", fmt.Errorf("%s is version %q, the tests need %s (run make agent-clis)", p, got, want)
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return "", err
		}
		return abs, nil
	}
	return "", fmt.Errorf("%s %s is not installed (run `make agent-clis`; looked for %s)", Packages[name], want, strings.Join(tried, ", "))
}

func version(path string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "--version")
	cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Find returns the path of a CLI, skipping the test when it is missing
// (failing it under CI=true).
func Find(t testing.TB, name string) string {
	t.Helper()
	p, err := Lookup(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (CI=true: the agent CLIs must be installed)", err)
		}
		t.Skip(err.Error())
	}
	return p
}

// Models are the model names the fake API is asked for by each CLI in
// tests: names the pinned CLI knows, so that it prints no warning about them.
var Models = map[string]string{Claude: "claude-opus-4-8", Codex: "gpt-5.5", Gemini: "gemini-2.5-pro"}

// Env returns the variables that make a CLI run offline against the fake
// model API at baseURL, with an isolated home under dir: HOME (Claude's
// sessions, Gemini's settings), CODEX_HOME (Codex's config.toml), fake keys
// and bounded retries. The result is KEY=VALUE entries to add to an agent's
// environment; the same set serves all three CLIs.
func Env(t testing.TB, dir, baseURL string) []string {
	t.Helper()
	home := filepath.Join(dir, "home")
	codexHome := filepath.Join(dir, "codex-home")
	for _, d := range []string{filepath.Join(home, ".gemini"), codexHome} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("could not create %s: %v", d, err)
		}
	}
	// Gemini CLI refuses to run without an auth type; the key comes from GEMINI_API_KEY.
	write(t, filepath.Join(home, ".gemini", "settings.json"),
		`{"security":{"auth":{"selectedType":"gemini-api-key"}},"general":{"disableAutoUpdate":true,"disableUpdateNag":true},"privacy":{"usageStatisticsEnabled":false},"telemetry":{"enabled":false}}`)
	// Codex reads its provider from config.toml. Retries are 0: a refused
	// connection would otherwise be retried forever.
	write(t, filepath.Join(codexHome, "config.toml"), fmt.Sprintf(`model = %q
model_provider = "fake"
approval_policy = "never"
sandbox_mode = "danger-full-access"

[model_providers.fake]
name = "fake"
base_url = "%s/v1"
wire_api = "responses"
env_key = "PHANTOM_FAKE_OPENAI_KEY"
request_max_retries = 0
stream_max_retries = 0
stream_idle_timeout_ms = 30000
`, Models[Codex], baseURL))
	return []string{
		"HOME=" + home,
		"CODEX_HOME=" + codexHome,
		// Claude Code.
		"ANTHROPIC_API_KEY=sk-ant-fake-test-key",
		"ANTHROPIC_BASE_URL=" + baseURL,
		"CLAUDE_CODE_MAX_RETRIES=0",
		"DISABLE_AUTOUPDATER=1",
		"DISABLE_TELEMETRY=1",
		"DISABLE_ERROR_REPORTING=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		// As root Claude Code refuses bypassPermissions unless told it is sandboxed.
		"IS_SANDBOX=1",
		// Codex.
		"PHANTOM_FAKE_OPENAI_KEY=sk-fake-openai-key",
		// Gemini CLI.
		"GEMINI_API_KEY=fake-gemini-key",
		"GOOGLE_GEMINI_BASE_URL=" + baseURL,
		"GEMINI_CLI_NO_RELAUNCH=true",
		"NO_COLOR=1",
	}
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("could not write %s: %v", path, err)
	}
}
