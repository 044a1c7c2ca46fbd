package service_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/projector/service"
)

// The scheduler's read models follow its events: the queue
// (scheduler_jobs, with the rules of the scheduler's queue: fencing, an
// attempt that failed retryably abandoned), the fleet, provider holds and
// profiles; and a rebuild gives the same rows.
func TestTheSchedulersReadModels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.start(service.DefaultConfig())
	spec := func(agent, profile string, prio int) runs.Spec {
		return runs.Spec{Agent: agent, Prompt: "p", Workspace: "/src/app", Profile: profile, Priority: &prio}
	}
	reset := at(90000)
	// last is the sequence of the last event of each projection's subjects.
	last := map[string]uint64{}
	for _, e := range []struct {
		p       events.Payload
		attempt int
		at      int
	}{
		{&events.ProfileSaved{Name: "nightly", Defaults: json.RawMessage(`{"priority":-3,"maxRetries":1}`), MaxConcurrent: ptr(2)}, 0, 0},
		{&events.RunnerRegistered{RunnerID: "w1", Host: "h1", Pool: "default", Slots: 2, Version: "dev", Started: at(0)}, 0, 1},
		{&events.RunnerRegistered{RunnerID: "w2", Host: "h2", Pool: "gpu", Slots: 4, Version: "dev", Started: at(0)}, 0, 2},
		// waiting: queued.
		{&events.RunRequested{RunID: "waiting", Spec: spec("claude", "nightly", -3)}, 0, 10},
		{&events.RunQueued{RunID: "waiting", Attempt: 1, Priority: -3, Provider: "claude", Pool: "default", Position: 1}, 1, 11},
		// running: dispatched and started.
		{&events.RunRequested{RunID: "running", Spec: spec("codex", "", 2)}, 0, 20},
		{&events.RunQueued{RunID: "running", Attempt: 1, Priority: 2, Provider: "codex", Pool: "default", Position: 1}, 1, 21},
		{&events.RunDispatched{RunID: "running", Attempt: 1, Pool: "default", Provider: "codex", Deadline: ptr(at(60000))}, 1, 22},
		{&events.RunStarted{RunID: "running", Attempt: 1, RunnerID: "w1"}, 1, 23},
		// held: hit a usage limit, waits for its retry; a late end of the
		// abandoned attempt changes nothing.
		{&events.RunRequested{RunID: "held", Spec: spec("claude", "", 0)}, 0, 30},
		{&events.RunQueued{RunID: "held", Attempt: 1, Provider: "claude", Pool: "default", Position: 1}, 1, 31},
		{&events.RunDispatched{RunID: "held", Attempt: 1, Pool: "default", Provider: "claude"}, 1, 32},
		{&events.RunStarted{RunID: "held", Attempt: 1, RunnerID: "w2"}, 1, 33},
		{&events.RunFailed{RunID: "held", Attempt: 1, Reason: runs.ReasonUsageLimit, Retryable: true, ResetsAt: &reset}, 1, 34},
		{&events.ProviderHeld{Provider: "claude", Until: reset, Reason: runs.ReasonUsageLimit, RunID: "held", Attempt: 1, ResetKnown: true, Message: "usage limit reached"}, 0, 35},
		{&events.RunRetryScheduled{RunID: "held", Attempt: 1, NextAttempt: 2, NotBefore: at(34), Reason: runs.ReasonUsageLimit}, 1, 36},
		{&events.RunCompleted{RunID: "held", Attempt: 1}, 1, 37},
		// retried: runner lost, backoff, queued again.
		{&events.RunRequested{RunID: "retried", Spec: spec("gemini", "", 0)}, 0, 40},
		{&events.RunQueued{RunID: "retried", Attempt: 1, Provider: "gemini", Pool: "default", Position: 1}, 1, 41},
		{&events.RunDispatched{RunID: "retried", Attempt: 1, Pool: "default", Provider: "gemini"}, 1, 42},
		{&events.RunStarted{RunID: "retried", Attempt: 1, RunnerID: "w2"}, 1, 43},
		{&events.RunnerLost{RunnerID: "w2", LastSeen: at(40), Runs: []string{"retried"}}, 0, 44},
		{&events.RunFailed{RunID: "retried", Attempt: 1, Reason: runs.ReasonRunnerLost, Retryable: true}, 1, 45},
		{&events.RunRetryScheduled{RunID: "retried", Attempt: 1, NextAttempt: 2, NotBefore: at(1045), BackoffMs: 1000, Reason: runs.ReasonRunnerLost}, 1, 46},
		{&events.RunQueued{RunID: "retried", Attempt: 2, Provider: "gemini", Pool: "default", Position: 2}, 2, 1046},
		// gone: completed, rejected, canceled in the queue, canceled after a retryable failure.
		{&events.RunRequested{RunID: "done", Spec: spec("claude", "", 0)}, 0, 50},
		{&events.RunQueued{RunID: "done", Attempt: 1, Provider: "claude", Pool: "default", Position: 1}, 1, 51},
		{&events.RunDispatched{RunID: "done", Attempt: 1, Pool: "default", Provider: "claude"}, 1, 52},
		{&events.RunCompleted{RunID: "done", Attempt: 1}, 1, 53},
		{&events.RunRequested{RunID: "rejected", Spec: spec("claude", "", 0)}, 0, 60},
		{&events.RunRejected{RunID: "rejected", Reason: runs.ReasonQueueFull}, 0, 61},
		{&events.RunRequested{RunID: "canceled", Spec: spec("claude", "", 0)}, 0, 70},
		{&events.RunQueued{RunID: "canceled", Attempt: 1, Provider: "claude", Pool: "default", Position: 2}, 1, 71},
		{&events.RunCanceled{RunID: "canceled", Attempt: 1, By: "me"}, 1, 72},
		{&events.RunRequested{RunID: "gave-up", Spec: spec("claude", "", 0)}, 0, 80},
		{&events.RunQueued{RunID: "gave-up", Attempt: 1, Provider: "claude", Pool: "default", Position: 2}, 1, 81},
		{&events.RunDispatched{RunID: "gave-up", Attempt: 1, Pool: "default", Provider: "claude"}, 1, 82},
		{&events.RunFailed{RunID: "gave-up", Attempt: 1, Reason: runs.ReasonSpawnFailed, Retryable: true}, 1, 83},
		{&events.RunCanceled{RunID: "gave-up", Attempt: 2, By: "me"}, 2, 84},
		{&events.ProfileSaved{Name: "nightly", Defaults: json.RawMessage(`{"priority":-2}`), MaxConcurrent: ptr(1)}, 0, 100},
		{&events.RunnerDrained{RunnerID: "w1", Runs: []string{}}, 0, 200},
		{&events.ProviderReleased{Provider: "claude", Until: reset, Reason: "expired"}, 0, 90001},
	} {
		seq := b.publish(e.p, e.attempt, at(e.at))
		switch agg, _ := events.AggregateOf(e.p.EventType()); agg {
		case events.AggregateRun:
			last[readmodel.ProjectionSchedulerJobs] = seq
		case events.AggregateRunner:
			last[readmodel.ProjectionRunners] = seq
		case events.AggregateProvider:
			last[readmodel.ProjectionProviderHolds] = seq
		case events.AggregateProfile:
			last[readmodel.ProjectionProfiles] = seq
		}
	}
	for name, seq := range last {
		b.WaitCheckpoint(name, seq, 30*time.Second)
	}

	jobs := b.Rows(`SELECT concat_ws('|', run_id, status, attempt, provider, coalesce(profile, '-'), priority, retries,
		coalesce(runner_id, '-'), coalesce(retry_reason, '-'), queued_at IS NOT NULL, not_before IS NOT NULL, deadline IS NOT NULL)
		FROM scheduler_jobs ORDER BY run_id`)
	require.Equal(t, []string{
		"held|retry_wait|1|claude|-|0|0|-|usage_limit|t|t|f",
		"retried|queued|2|gemini|-|0|1|-|runner_lost|t|f|f",
		"running|running|1|codex|-|2|0|w1|-|t|f|t",
		"waiting|queued|1|claude|nightly|-3|0|-|-|t|f|f",
	}, jobs)
	require.Equal(t, []string{at(41).Format(time.RFC3339Nano)},
		b.Rows(`SELECT to_char(queued_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM scheduler_jobs WHERE run_id = 'retried'`),
		"a retry keeps the time the run first entered the queue")

	require.Equal(t, []string{
		"w1|h1|default|2|drained|{}",
		"w2|h2|gpu|4|lost|{retried}",
	}, b.Rows(`SELECT concat_ws('|', runner_id, host, pool, slots, status, runs::text) FROM runners ORDER BY runner_id`))
	require.Equal(t, []string{"claude|usage_limit|t|held|1|expired|1"},
		b.Rows(`SELECT concat_ws('|', provider, reason, reset_known, run_id, attempt, release_reason, holds) FROM provider_holds`))
	require.Equal(t, []string{`nightly|{"priority": -2}|1`},
		b.Rows(`SELECT concat_ws('|', name, defaults::text, max_concurrent) FROM profiles`))

	// Rebuilt from sequence 1, the tables are the same.
	dump := func() []string {
		var out []string
		for _, table := range []string{"scheduler_jobs", "runners", "provider_holds", "profiles"} {
			out = append(out, b.Rows(`SELECT to_jsonb(x)::text FROM `+table+` x ORDER BY 1`)...)
		}
		return out
	}
	before := dump()
	svc, err := service.New(b.Ctx, service.DefaultConfig(), b.DaemonEnv(nil))
	require.NoError(t, err)
	for name, seq := range last {
		require.NoError(t, svc.Rebuild(b.Ctx, name))
		b.WaitCheckpoint(name, seq, 30*time.Second)
	}
	require.Equal(t, before, dump())
}
