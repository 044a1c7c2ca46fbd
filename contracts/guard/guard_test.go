package guard_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
)

func TestParseModeReadsNamesAndCombinationsAndStringRoundTrips(t *testing.T) {
	t.Parallel()
	valid := map[string]guard.Mode{
		"default":                     guard.ModeDefault,
		"strict":                      guard.ModeStrict,
		"paranoid":                    guard.ModeParanoid,
		"paranoid_rm":                 guard.ModeParanoidRm,
		"paranoid-interpreters":       guard.ModeParanoidInterpreters,
		"worktree":                    guard.ModeWorktree,
		"strict+paranoid":             guard.ModeStrict | guard.ModeParanoid,
		" Strict + Worktree ":         guard.ModeStrict | guard.ModeWorktree,
		"strict+paranoid_rm+worktree": guard.ModeStrict | guard.ModeParanoidRm | guard.ModeWorktree,
	}
	for s, want := range valid {
		got, err := guard.ParseMode(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
		again, err := guard.ParseMode(got.String())
		require.NoError(t, err, "String() of %q is %q", s, got.String())
		require.Equal(t, got, again)
	}
	for _, s := range []string{"", "strictest", "strict+", "paranoid+bogus"} {
		_, err := guard.ParseMode(s)
		require.Error(t, err, s)
		require.ErrorContains(t, err, `"default", "strict", "paranoid", "paranoid_rm", "paranoid_interpreters", "worktree"`)
	}
}

func TestParseRulesNamesEveryFieldAtFault(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		`{"version":2,"rules":[]}`: "version: must be 1",
		`{"version":1,"rules":[{"name":"a` + strings.Repeat("b", 63) + `","command":"1git","block_args":["x"],"reason":"r"}]}`:                          "rules[0].command",
		`{"version":1,"rules":[{"name":"1bad","command":"git","block_args":["x"],"reason":"r"}]}`:                                                       "rules[0].name: must start with a letter",
		`{"version":1,"rules":[{"name":"a","command":"/bin/git","block_args":["x"],"reason":"r"}]}`:                                                     "rules[0].command: must be a command name",
		`{"version":1,"rules":[{"name":"a","command":"git","block_args":[],"reason":"r"}]}`:                                                             "rules[0].block_args: required, at least one argument",
		`{"version":1,"rules":[{"name":"a","command":"git","block_args":[""],"reason":"r"}]}`:                                                           "rules[0].block_args[0]: must not be empty",
		`{"version":1,"rules":[{"name":"a","command":"git","block_args":["x"]}]}`:                                                                       "rules[0].reason: required string",
		`{"version":1,"rules":[{"name":"a","command":"git","block_args":["x"],"reason":"r","extra":1}]}`:                                                "allowed fields are name, command, subcommand, block_args, reason",
		`{"version":1,"rules":[{"name":"a","command":"g","block_args":["x"],"reason":"r"},{"name":"A","command":"g","block_args":["x"],"reason":"r"}]}`: `rules[1].name: duplicate rule name "A"`,
		`{"version":1,"rules":[{"name":"a` + strings.Repeat("b", 64) + `","command":"git","block_args":["x"],"reason":"r"}]}`:                           "(max 64 characters)",
		`{"version":1,"rules":`:    "invalid JSON",
		`{"version":1,"rulez":[]}`: `allowed top-level fields are "version", "rules" and "$schema"`,
	}
	for content, want := range tests {
		_, err := guard.ParseRules([]byte(content))
		require.ErrorContains(t, err, want, content)
	}
	// 64 characters is the longest name; an empty file has no rules.
	rules, err := guard.ParseRules([]byte(`{"version":1,"rules":[{"name":"a` + strings.Repeat("b", 63) + `","command":"git","subcommand":"add","block_args":["x"],"reason":"r"}]}`))
	require.NoError(t, err)
	require.Equal(t, []events.GuardRule{{Name: "a" + strings.Repeat("b", 63), Command: "git", Subcommand: "add", BlockArgs: []string{"x"}, Reason: "r"}}, rules)
	rules, err = guard.ParseRules([]byte(" \n"))
	require.NoError(t, err)
	require.Empty(t, rules)
}

func TestValidatePolicyNamesEveryFieldAtFault(t *testing.T) {
	t.Parallel()
	require.NoError(t, guard.ValidatePolicy(events.GuardPolicy{Mode: "strict+worktree", RuleSwitches: map[string]bool{"git.reset_hard": false}}))
	err := guard.ValidatePolicy(events.GuardPolicy{
		Mode:         "lenient",
		Rules:        []events.GuardRule{{Name: "1bad", Command: "git", BlockArgs: []string{"-A"}, Reason: "r"}},
		RuleSwitches: map[string]bool{"git.nonsense": false, "rm.root_or_home": false},
		Wrappers:     []string{"/usr/bin/x"},
		AllowPaths:   []string{" "},
	})
	require.Error(t, err)
	for _, want := range []string{"mode:", "rules[0].name", "ruleSwitches.git.nonsense: unknown", "ruleSwitches.rm.root_or_home: a catastrophic rule", "wrappers[0]", "allowPaths[0]"} {
		require.Contains(t, err.Error(), want)
	}
}

func TestTheCatalogueHasOneEntryPerRuleAndLookupFindsIt(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range guard.Catalogue() {
		require.False(t, seen[r.ID], "rule %s is listed twice", r.ID)
		seen[r.ID] = true
		require.NotEmpty(t, r.Description, r.ID)
		got, ok := guard.LookupRule(r.ID)
		require.True(t, ok, r.ID)
		require.Equal(t, r, got)
		require.Equal(t, strings.HasPrefix(r.ID, "secret."), guard.IsSecretRule(r.ID))
	}
	_, ok := guard.LookupRule(guard.CustomRulePrefix + "mine")
	require.False(t, ok, "custom rules are not built in")
	_, ok = guard.LookupRule(guard.RuleInvalidPolicy)
	require.False(t, ok, "decisions taken outside the engine are not engine rules")
	cat := guard.Catalogue()
	cat[0].ID = "changed"
	require.NotEqual(t, "changed", guard.Catalogue()[0].ID, "the catalogue is a copy")
}
