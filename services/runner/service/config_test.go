package service

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/daemon"
)

// Every default in the tags is the one DefaultConfig returns.
func TestDefaultsMatchTheTags(t *testing.T) {
	vars, err := config.Vars(&Config{})
	require.NoError(t, err)
	for _, v := range vars {
		t.Setenv(v.Name, "")
		require.NoError(t, os.Unsetenv(v.Name))
	}
	var c Config
	require.NoError(t, config.Load(&c))
	require.Equal(t, DefaultConfig(), c)
}

// A host that embeds the runner and sets only some fields gets the
// defaults for the rest, except where zero means something. (Not parallel:
// a test of this package waiting to run would count as a goroutine of the
// runner in TestRegistrationAndDrainOnShutdown.)
func TestZeroFieldsTakeTheDefaults(t *testing.T) {
	c, err := Config{Slots: 7, KillGrace: time.Second}.withDefaults()
	require.NoError(t, err)
	want := DefaultConfig()
	want.Host = daemon.HostToken()
	want.Slots, want.KillGrace = 7, time.Second
	want.DrainTimeout, want.SpawnRetries, want.GuardHook = 0, 0, false
	require.Equal(t, want, c)

	c, err = DefaultConfig().withDefaults()
	require.NoError(t, err)
	require.Equal(t, 20*time.Second, c.DrainTimeout)
	require.Equal(t, 2, c.SpawnRetries)
	require.True(t, c.GuardHook)
}
