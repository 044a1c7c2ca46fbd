package service

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/config"
)

// Every default in the tags is the one DefaultConfig returns.
func TestDefaultsMatchTheTags(t *testing.T) {
	var c Config
	for _, v := range []string{"GUARD_MODE", "GUARD_RULES_FILE", "GUARD_TIMEOUT"} {
		t.Setenv("PHANTOM_"+v, "")
		require.NoError(t, os.Unsetenv("PHANTOM_"+v))
	}
	require.NoError(t, config.Load(&c))
	require.Equal(t, DefaultConfig(), c)
	require.NoError(t, c.Validate())
}

// The README's configuration table is the one --help prints, kept in step.
func TestReadmeHasTheConfigurationTable(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	require.NoError(t, config.Markdown(&table, &Config{}))
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), table.String(), "regenerate the table in services/safety-guard/README.md:\n%s", table.String())
}
