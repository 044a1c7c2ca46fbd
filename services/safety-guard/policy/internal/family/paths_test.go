package family_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

func TestWithinIsRootOrBelowItByPathComponents(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p, root string
		want    bool
	}{
		{"/a/b", "/a/b", true}, {"/a/b/c", "/a/b", true}, {"/a/bc", "/a/b", false}, {"/a", "/a/b", false},
		{"/x", "/", true}, {"/", "/", true}, {"x", "/", false}, {"/a", "", false}, {"a/b", "a", true},
	} {
		require.Equal(t, c.want, family.Within(c.p, c.root), "%q in %q", c.p, c.root)
		// The same as: root and a separator are a prefix of p.
		if c.root != "" && c.root != "/" && c.p != c.root {
			require.Equal(t, strings.HasPrefix(c.p, c.root+"/"), family.Within(c.p, c.root))
		}
	}
	require.True(t, family.StrictlyWithin("/a/b", "/a"))
	require.False(t, family.StrictlyWithin("/a", "/a"))
}
