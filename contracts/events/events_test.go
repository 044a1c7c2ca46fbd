package events_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/subjects"
)

func TestEveryTypeDecodesItsOwnPayload(t *testing.T) {
	for _, s := range events.Specs() {
		p := s.New()
		require.Equal(t, s.Type, p.EventType())
		raw, err := json.Marshal(p)
		require.NoError(t, err)
		back, err := events.Decode(s.Type, raw)
		require.NoError(t, err)
		again, err := json.Marshal(back)
		require.NoError(t, err)
		require.JSONEq(t, string(raw), string(again), s.Type)
		agg, err := events.AggregateOf(s.Type)
		require.NoError(t, err)
		require.Equal(t, s.Aggregate, agg)
	}
}

func TestEveryTypeHasOneOwner(t *testing.T) {
	known := []events.Service{events.ServiceGateway, events.ServiceScheduler, events.ServiceRunner, events.ServiceWorktree, events.ServiceSafetyGuard}
	for _, s := range events.Specs() {
		require.Contains(t, known, s.Owner, "%s has no owner", s.Type)
		require.True(t, s.AppendedBy(s.Owner), s.Type)
		for _, also := range s.AlsoAppendedBy {
			require.Contains(t, known, also, s.Type)
			require.NotEqual(t, s.Owner, also, "%s names its owner twice", s.Type)
		}
	}
	// Only a run's end is appended by two services (the scheduler ends what
	// no runner can); tools/boundaries checks every owner against the code.
	for typ, want := range map[string][]events.Service{
		"run.failed":   {events.ServiceScheduler},
		"run.canceled": {events.ServiceScheduler},
	} {
		s, _ := events.Lookup(typ)
		require.Equal(t, want, s.AlsoAppendedBy, typ)
	}
	shared := 0
	for _, s := range events.Specs() {
		if len(s.AlsoAppendedBy) > 0 {
			shared++
		}
	}
	require.Equal(t, 2, shared, "a second appender needs the reason in Spec.AlsoAppendedBy's comment")
	s, _ := events.Lookup("conversation.created")
	require.False(t, s.AppendedBy(events.ServiceRunner), "the runner writes no conversation")
}

func TestArchitectureEventListIsComplete(t *testing.T) {
	// The list in ARCHITECTURE.md ("Events"), kept here so a missing type fails loudly.
	want := []string{
		"run.requested", "run.queued", "run.rejected", "run.dispatched", "run.started", "run.progress",
		"run.chunk.stdout", "run.chunk.stderr", "run.semantic", "run.policy_audit", "run.compatibility_warning",
		"run.warning", "run.cli_missing", "run.cwd_missing", "run.runner_metrics", "run.cli_exit",
		"run.structured_output", "run.structured_output_invalid", "run.paused", "run.resumed",
		"run.retry_scheduled", "run.completed", "run.failed", "run.canceled", "run.archived",
		"run.worktree_prepared", "run.checkpoint_created", "run.checkpoint_restored",
		"session.opened", "session.input_accepted", "session.closed",
		"conversation.created", "conversation.updated", "conversation.renamed", "conversation.archived",
		"conversation.message_sent",
		"profile.saved", "settings.updated", "workspace.granted", "workspace.revoked",
		"provider_token.saved", "provider_token.cleared", "retention_policy.updated",
		"runner.registered", "runner.capabilities", "runner.lost", "runner.drained",
	}
	listed := map[string]bool{}
	for _, typ := range want {
		_, ok := events.Lookup(typ)
		require.True(t, ok, "event type %s is missing", typ)
		listed[typ] = true
	}
	// A type beyond the architecture's list must say why, in the
	// beyondArchitecture set of its own test file.
	for _, s := range events.Specs() {
		require.True(t, listed[s.Type] || beyondArchitecture[s.Type] != "", "event type %s is neither in ARCHITECTURE.md nor in beyondArchitecture", s.Type)
	}
	for typ := range beyondArchitecture {
		_, ok := events.Lookup(typ)
		require.True(t, ok, "event type %s is listed in beyondArchitecture but not registered", typ)
	}
}

// beyondArchitecture lists event types added after ARCHITECTURE.md's list,
// each with why; every area fills it from a file of its own (init).
var beyondArchitecture = map[string]string{}

func TestSubjectOfAPayload(t *testing.T) {
	s, err := events.Subject(events.SessionOpened{RunID: "R1"})
	require.NoError(t, err)
	require.Equal(t, "phantom.events.run.R1.session.opened", s, "session events belong to their run")
	s, err = events.Subject(events.RunnerLost{RunnerID: "h-1"})
	require.NoError(t, err)
	require.Equal(t, "phantom.events.runner.h-1.runner.lost", s)
	_, err = events.Subject(events.RunCompleted{RunID: "a.b"})
	require.ErrorContains(t, err, "run id")
}

func TestTerminal(t *testing.T) {
	require.True(t, events.Terminal(&events.RunCompleted{}))
	require.True(t, events.Terminal(&events.RunCanceled{}))
	require.True(t, events.Terminal(&events.RunRejected{}))
	require.True(t, events.Terminal(&events.RunFailed{}))
	require.False(t, events.Terminal(&events.RunFailed{Retryable: true}))
	require.False(t, events.Terminal(&events.RunStarted{}))
}

func TestUnknownTypeIsAnError(t *testing.T) {
	_, err := events.Decode("run.nope", []byte(`{}`))
	require.ErrorContains(t, err, "unknown event type")
}

func TestGuardPolicyIDIsOneTokenPerScopeAndTarget(t *testing.T) {
	require.Equal(t, "global", events.GuardPolicyID(events.GuardScopeGlobal, ""))
	long := "/" + strings.Repeat("deep/", 100) + "repo"
	ws := events.GuardPolicyID(events.GuardScopeWorkspace, long)
	require.True(t, subjects.ValidToken(ws), ws)
	require.True(t, strings.HasPrefix(ws, "workspace-"), ws)
	require.Equal(t, ws, events.GuardPolicyID(events.GuardScopeWorkspace, long), "the same target has the same id")
	require.NotEqual(t, ws, events.GuardPolicyID(events.GuardScopeWorkspace, long+"2"))
	require.NotEqual(t, events.GuardPolicyID(events.GuardScopeProfile, "a"), events.GuardPolicyID(events.GuardScopeWorkspace, "a"))
	s, err := events.Subject(events.GuardPolicySaved{PolicyID: ws, Scope: events.GuardScopeWorkspace, Target: long})
	require.NoError(t, err)
	require.Equal(t, "phantom.events.guard_policy."+ws+".guard_policy.saved", s)
}
