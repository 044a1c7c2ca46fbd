package webui

import (
	"io/fs"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// assetRef matches the files index.html loads (Vite writes them as /assets/<name>-<hash>.<ext>).
var assetRef = regexp.MustCompile(`(?:src|href)="/(assets/[^"]+)"`)

func TestEmbeddedAssetsAreLaidOutForServing(t *testing.T) {
	t.Parallel()
	assets := Assets()
	_, err := fs.Stat(assets, PlaceholderName)
	require.NoError(t, err, "dist/.placeholder must stay committed: go build needs the embed pattern to match")

	if !Built(assets) {
		// Built without Node: only the placeholder is there.
		entries, err := fs.ReadDir(assets, ".")
		require.NoError(t, err)
		for _, e := range entries {
			require.Equal(t, PlaceholderName, e.Name(), "an unbuilt dashboard holds only the placeholder")
		}
		return
	}
	index, err := fs.ReadFile(assets, "index.html")
	require.NoError(t, err)
	refs := assetRef.FindAllStringSubmatch(string(index), -1)
	require.NotEmpty(t, refs, "index.html loads no assets from /assets/")
	for _, m := range refs {
		info, err := fs.Stat(assets, m[1])
		require.NoError(t, err, "index.html loads %s, which is not embedded", m[1])
		require.Positive(t, info.Size(), "%s is empty", m[1])
	}
	// Nothing but index.html, the placeholder and assets/ at the root: the gateway serves the root as the page.
	entries, err := fs.ReadDir(assets, ".")
	require.NoError(t, err)
	for _, e := range entries {
		require.Contains(t, []string{"index.html", PlaceholderName, "assets"}, e.Name())
	}
}
