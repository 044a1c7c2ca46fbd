package layout_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/worktree/internal/domain/layout"
)

func TestWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		root, path string
		want       bool
	}{
		{"/srv/code", "/srv/code", true},
		{"/srv/code", "/srv/code/app", true},
		{"/srv/code", "/srv/code/a/b/c", true},
		{"/srv/code", "/srv/codebase", false},
		{"/srv/code", "/srv", false},
		{"/srv/code", "/etc", false},
		{"/srv/code", "/srv/code/..", false},
		{"/srv/code", "/srv/code/../other", false},
		{"/srv/code", "/srv/code/..hidden", true},
		{"/", "/anything", true},
	} {
		require.Equal(t, tc.want, layout.Within(tc.root, tc.path), "%s in %s", tc.path, tc.root)
	}
	require.True(t, layout.Granted(nil, "/anywhere"))
	require.False(t, layout.Granted([]string{"/a", "/b"}, "/c/d"))
	require.True(t, layout.Granted([]string{"/a", "/b"}, "/b/d"))
}

func TestWorktreePath(t *testing.T) {
	t.Parallel()
	p1 := layout.WorktreePath("/data/worktrees", "/home/me/app", "01RUN")
	p2 := layout.WorktreePath("/data/worktrees", "/home/you/app", "01RUN")
	require.Regexp(t, `^/data/worktrees/app-[0-9a-f]{12}/01RUN$`, p1)
	require.NotEqual(t, p1, p2, "two checkouts named alike do not share a directory")
	require.Equal(t, "phantom/01RUN", layout.Branch("01RUN"))
}
