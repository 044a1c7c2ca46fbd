package subjects_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/subjects"
)

func TestEventSubjectRoundTrip(t *testing.T) {
	s := subjects.Event("run", "01JABC", "run.chunk.stdout")
	require.Equal(t, "phantom.events.run.01JABC.run.chunk.stdout", s)
	p, err := subjects.ParseEvent(s)
	require.NoError(t, err)
	require.Equal(t, subjects.ParsedEvent{Aggregate: "run", ID: "01JABC", Type: "run.chunk.stdout"}, p)
}

func TestParseEventRejectsOtherSubjects(t *testing.T) {
	for _, s := range []string{"phantom.cmd.scheduler.submit_run", "phantom.events.run", "phantom.events.run.x", "phantom.events..x.y"} {
		_, err := subjects.ParseEvent(s)
		require.Error(t, err, s)
	}
}

func TestTokens(t *testing.T) {
	for _, ok := range []string{"default", "01JABC", "host-1_a", strings.Repeat("z", 128), "A-Z_0-9"} {
		require.True(t, subjects.ValidToken(ok), ok)
	}
	for _, bad := range []string{"", "a.b", "a b", "*", ">", "x\n", strings.Repeat("z", 129), "caf\u00e9", "a/b", "a\x00"} {
		require.False(t, subjects.ValidToken(bad), bad)
		err := subjects.CheckToken("pool", bad)
		require.ErrorContains(t, err, "pool")
	}
}

func TestWildcards(t *testing.T) {
	require.Equal(t, "phantom.events.run.*.run.completed", subjects.EventsOfType("run", "run.completed"))
	require.Equal(t, "phantom.events.run.R.>", subjects.AggregateEvents("run", "R"))
	require.Equal(t, "phantom.cmd.runner.X.cancel", subjects.RunnerCommand("X", "cancel"))
	require.Equal(t, "phantom.dispatch.gpu", subjects.Dispatch("gpu"))
	require.Equal(t, "phantom.rpc.worktree.h1.prepare", subjects.WorktreeRPC("h1", "prepare"))
}
