package command

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

func TestValidateAcceptsTheBoundsAndReportsTheFirstFaultInFieldOrder(t *testing.T) {
	t.Parallel()
	lim := Limits{MaxPromptBytes: 10, WorkspaceRoots: []string{"/w"}}
	n := func(v int) *int { return &v }
	ok := runs.Spec{Agent: "a", Prompt: strings.Repeat("é", 5), Workspace: "/w", Priority: n(-10), TimeoutSeconds: n(10800),
		Isolation: runs.IsolationNone, Labels: map[string]string{"a.b/c-d_e": ""}, Model: "gpt-5 (high)"}
	require.NoError(t, Validate(ok, lim))

	// Two faults: the one of the earlier field is reported.
	bad := ok
	bad.Agent = ""
	bad.Priority = n(99)
	err := Validate(bad, lim)
	e, isApp := apperr.As(err)
	require.True(t, isApp)
	require.Equal(t, "agent", e.Field)
	require.Equal(t, problems.InvalidRequest, e.Code)

	long := ok
	long.Prompt = strings.Repeat("é", 6) // 12 bytes
	e, _ = apperr.As(Validate(long, lim))
	require.Equal(t, "prompt", e.Field)
	require.Contains(t, e.Detail, "12 bytes")

	outside := ok
	outside.Workspace = "/x"
	e, _ = apperr.As(Validate(outside, lim))
	require.Equal(t, problems.WorkspaceNotGranted, e.Code)
}

func TestClipKeepsEchoedInputShortAndValid(t *testing.T) {
	t.Parallel()
	s := clip(strings.Repeat("é", 100))
	require.LessOrEqual(t, len(s), 80+len("…"))
	require.True(t, strings.HasSuffix(s, "…"))
	require.NotContains(t, s, "\uFFFD")
}
