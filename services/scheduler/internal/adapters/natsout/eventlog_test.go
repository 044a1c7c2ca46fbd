package natsout

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWantedKeepsTrackedRunEventsAndRunnerEvents(t *testing.T) {
	t.Parallel()
	l := NewEventLog(nil, nil)
	for subject, want := range map[string]bool{
		"phantom.events.run.01ABC.run.requested":             true,
		"phantom.events.run.01ABC.run.dispatched":            true,
		"phantom.events.run.01ABC.run.started":               true,
		"phantom.events.run.01ABC.run.failed":                true,
		"phantom.events.run.01ABC.run.chunk.stdout":          false,
		"phantom.events.run.01ABC.run.progress":              false,
		"phantom.events.runner.w-1.runner.lost":              true,
		"phantom.events.profile.p.profile.saved":             true,
		"phantom.events.provider.claude.provider.held":       true,
		"phantom.events.run.01ABC.run.retry_scheduled":       true,
		"phantom.events.conversation.c.conversation.created": false,
		"phantom.events.run":                                 false,
		"phantom.cmd.scheduler.submit_run":                   false,
	} {
		require.Equal(t, want, wanted(subject, l.tracked), subject)
	}
}
