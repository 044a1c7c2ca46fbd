package datadir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/datadir"
)

func TestTheDataDirRule(t *testing.T) {
	t.Parallel()
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	env[datadir.Env] = "rel/dir"
	d, err := datadir.Resolve(getenv)
	require.NoError(t, err)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "rel/dir"), d, "PHANTOM_DATA_DIR wins, made absolute")

	delete(env, datadir.Env)
	env["XDG_DATA_HOME"] = "/xdg"
	d, err = datadir.Resolve(getenv)
	require.NoError(t, err)
	if os.Geteuid() == 0 {
		require.Equal(t, "/var/lib/phantom", d, "root keeps a system service's place")
		return
	}
	require.Equal(t, "/xdg/phantom", d)
	env["XDG_DATA_HOME"] = "relative"
	d, err = datadir.Resolve(getenv)
	require.NoError(t, err)
	home, err := os.UserHomeDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, ".local", "share", "phantom"), d, "a relative XDG_DATA_HOME is ignored, as the XDG spec says")
}
