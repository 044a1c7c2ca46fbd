package service

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/config"
)

// The README's configuration table is the one --help prints, kept in step.
func TestReadmeHasTheConfigurationTable(t *testing.T) {
	t.Parallel()
	var table strings.Builder
	require.NoError(t, config.Markdown(&table, &Config{}))
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	require.Contains(t, string(readme), table.String(), "regenerate the table in services/scheduler/README.md:\n%s", table.String())
}

// Every default in the tags is the one DefaultConfig returns.
func TestDefaultsMatchTheTags(t *testing.T) {
	var c Config
	for _, v := range []string{"MAX_RUNNING", "MAX_PER_PROVIDER", "CAPACITY", "COMMAND_RETRY_DELAY", "COMMAND_ACK_WAIT", "RETRY_INTERVAL", "PUBLISH_TIMEOUT", "REPLAY_TIMEOUT"} {
		t.Setenv("PHANTOM_SCHEDULER_"+v, "")
		require.NoError(t, os.Unsetenv("PHANTOM_SCHEDULER_"+v))
	}
	require.NoError(t, config.Load(&c))
	require.Equal(t, DefaultConfig(), c)
}
