package layout_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/worktree/internal/domain/layout"
)

func TestGranted(t *testing.T) {
	t.Parallel()
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
