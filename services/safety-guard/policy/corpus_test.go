package policy_test

import (
	"path/filepath"
	"testing"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/corpus"
)

// corpusCase is one line of a conformance corpus; see the README next to the
// corpora for the fields.
type corpusCase struct {
	Line       int               `json:"-"`
	Cmd        string            `json:"cmd"`
	Expect     string            `json:"expect"`
	Mode       string            `json:"mode"`
	Cwd        *string           `json:"cwd"`
	Env        map[string]string `json:"env"`
	Fixture    string            `json:"fixture"`
	Shell      string            `json:"shell"`
	Custom     []customRuleJSON  `json:"custom_rules"`
	Setup      string            `json:"requires_test_setup"`
	Home       string            `json:"home"`
	ProcessEnv map[string]string `json:"process_env"`
	Inherited  map[string]string `json:"inherited_env_assignments"`
	Overrides  *policyOverrides  `json:"policy_overrides"`
	SecretCfg  *secretConfig     `json:"secret_protection_config"`
	Options    *policyOptions    `json:"policy_options"`
	Source     string            `json:"source"`
	Test       string            `json:"test"`
	Reason     string            `json:"reason"`
}

type customRuleJSON struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"`
	Subcommand string   `json:"subcommand,omitempty"`
	BlockArgs  []string `json:"block_args"`
	Reason     string   `json:"reason"`
}

type policyOverrides struct {
	Rules               []customRuleJSON  `json:"rules"`
	ProtectionEnabled   *bool             `json:"destructiveCommandProtectionEnabled"`
	RuleOverrides       map[string]string `json:"destructiveCommandRuleOverrides"`
	AllowPaths          []string          `json:"destructiveCommandAllowPaths"`
	TransparentWrappers []string          `json:"transparentWrappers"`
	WorktreeMode        bool              `json:"worktreeMode"`
	Secret              *secretConfig     `json:"secretProtection"`
}

// policyOptions locate upstream's rule directories for a case.
type policyOptions struct {
	UserConfigDir string `json:"userConfigDir"`
}

type secretConfig struct {
	DenyPaths  []string `json:"denyPaths"`
	AllowPaths []string `json:"allowPaths"`
}

func conformanceDir(t testing.TB) string { return corpus.Dir(t) }

func repoRoot(t testing.TB) string {
	t.Helper()
	root := corpus.RepoRoot()
	if root == "" {
		t.Fatalf("could not find the repository root (a directory with go.work) above the working directory")
	}
	return root
}

func loadCorpus(t testing.TB, dir, name string) []corpusCase {
	return corpus.Read(t, filepath.Join(dir, name), func(c *corpusCase, n int) { c.Line = n })
}
