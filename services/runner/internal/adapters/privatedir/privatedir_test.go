package privatedir_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/adapters/privatedir"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

func TestAPrivateDirectoryIsTheUsersOnly(t *testing.T) {
	t.Parallel()
	var dirs privatedir.Temp
	dir, err := dirs.Create()
	require.NoError(t, err)
	st, err := os.Stat(dir)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	require.NoError(t, dirs.Write(dir, []launch.File{{Name: "mcp.json", Data: []byte(`{"mcpServers":{}}`)}}))
	path := filepath.Join(dir, "mcp.json")
	st, err = os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.JSONEq(t, `{"mcpServers":{}}`, string(data))

	dirs.Remove(dir)
	require.NoDirExists(t, dir)
}
