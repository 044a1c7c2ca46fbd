package service_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/service"
)

func (b *bundle) put(path string, v any) response {
	data, err := json.Marshal(v)
	require.NoError(b.t, err)
	return b.do(b.request(http.MethodPut, path, data))
}

// The guardrails of the whole request, the harness block's included, are
// checked at the gateway with the validator the scheduler applies again.
func TestGuardrailsAreCheckedWithTheSharedValidator(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ws := t.TempDir()
	for _, tc := range []struct {
		body  map[string]any
		field string
		msg   string
	}{
		{map[string]any{"maxRetries": 11}, "maxRetries", "0..=10"},
		{map[string]any{"retryBackoffMs": 50}, "retryBackoffMs", "100..=600000"},
		{map[string]any{"harness": map[string]any{"timeoutMs": 4999}}, "harness.timeoutMs", "5000..=10800000"},
		{map[string]any{"harness": map[string]any{"maxToolResultLines": 20001}}, "harness.maxToolResultLines", "1..=20000"},
		{map[string]any{"harness": map[string]any{"autoApprove": true, "sandbox": "full-access"}}, "harness.autoApprove", "refused by policy"},
		{map[string]any{"priority": 11}, "priority", "-10..=10"},
	} {
		body := map[string]any{"agent": "claude", "prompt": "p", "workspace": ws}
		for k, v := range tc.body {
			body[k] = v
		}
		res := b.postJSON("/v1/runs", body)
		require.Equal(t, http.StatusBadRequest, res.status, "%v: %s", tc.body, res.body)
		p := res.problem(t)
		require.Equal(t, problems.InvalidRequest, p.Code)
		require.Equal(t, tc.field, p.Field)
		require.Contains(t, p.Detail, tc.msg)
	}
	require.Zero(t, b.commandsPublished(), "a refused request publishes nothing")
}

// A profile fills what a request leaves out (null-safe: an explicit value,
// zero included, wins) and is usable the moment it is saved.
func TestProfilesFillWhatTheRequestLeavesOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.startScheduler(queued)
	ws := t.TempDir()
	res := b.put("/v1/profiles/nightly", map[string]any{
		"defaults":      map[string]any{"priority": -2, "model": "opus", "workspace": ws, "maxRetries": 3, "harness": map[string]any{"timeoutMs": 60000}},
		"maxConcurrent": 1,
	})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var saved struct {
		Name          string
		Defaults      runs.Spec
		MaxConcurrent *int
	}
	require.NoError(t, json.Unmarshal(res.body, &saved))
	require.Equal(t, 1, *saved.MaxConcurrent)
	res = b.get("/v1/profiles/nightly")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"model":"opus"`)

	// The run names the profile: the workspace, model, retries and harness
	// come from it; the explicit priority 0 wins over the profile's -2.
	res = b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "p", "profile": "nightly", "priority": 0})
	require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
	require.Eventually(t, func() bool { return len(f.commands()) == 1 }, 5*time.Second, 10*time.Millisecond)
	spec := f.commands()[0].cmd.Spec
	require.Equal(t, ws, spec.Workspace)
	require.Equal(t, "opus", spec.Model)
	require.Equal(t, 0, *spec.Priority)
	require.Equal(t, 3, *spec.MaxRetries)
	require.Equal(t, 60000, *spec.Harness.TimeoutMs)
	require.Equal(t, "nightly", spec.Profile)

	// Refusals name the field.
	res = b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "p", "profile": "nobody", "workspace": ws})
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, "profile", res.problem(t).Field)
	res = b.put("/v1/profiles/bad", map[string]any{"defaults": map[string]any{"priority": 99}})
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, "defaults.priority", res.problem(t).Field)
	res = b.put("/v1/profiles/bad", map[string]any{"defaults": map[string]any{"prompt": "x"}})
	require.Equal(t, "defaults.prompt", res.problem(t).Field)
	res = b.put("/v1/profiles/bad", map[string]any{"maxConcurrent": 0})
	require.Equal(t, "maxConcurrent", res.problem(t).Field)
	res = b.put("/v1/profiles/bad", map[string]any{"defaults": map[string]any{"nope": 1}})
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, http.StatusNotFound, b.get("/v1/profiles/bad").status, "nothing refused was saved")

	// The list is the read model's (the test plays the projector).
	_, err := b.db.Exec(b.ctx, `INSERT INTO profiles (name, defaults, max_concurrent, created_at, updated_at, last_seq)
		VALUES ('nightly', '{"priority": -2}', 1, now(), now(), 1)`)
	require.NoError(t, err)
	res = b.get("/v1/profiles")
	require.Equal(t, http.StatusOK, res.status)
	require.Contains(t, string(res.body), `"name":"nightly"`)
}

// Cancel: a queued run is canceled at once; a run the runner is still
// stopping answers 202; an ended run is a 409, an unknown one a 404.
func TestCancelARun(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) { c.SubmitWait = time.Second })
	f := b.startScheduler(queued)
	ws := t.TempDir()
	res := b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "p", "workspace": ws})
	require.Equal(t, http.StatusAccepted, res.status)
	var sub struct{ ID string }
	require.NoError(t, json.Unmarshal(res.body, &sub))

	res = b.postJSON("/v1/runs/"+sub.ID+"/cancel", map[string]any{"reason": "changed my mind"})
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.JSONEq(t, `{"id":"`+sub.ID+`","status":"canceled"}`, string(res.body))
	f.mu.Lock()
	require.Equal(t, commands.CancelRun{RunID: sub.ID, Reason: "changed my mind", By: "api"}, f.cancels[0])
	f.onCancel = func(commands.CancelRun) events.Payload { return nil } // a runner still stopping it
	f.mu.Unlock()

	res = b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "p", "workspace": ws})
	var running struct{ ID string }
	require.NoError(t, json.Unmarshal(res.body, &running))
	res = b.do(b.request(http.MethodPost, "/v1/runs/"+running.ID+"/cancel", nil))
	require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
	require.JSONEq(t, `{"id":"`+running.ID+`","status":"canceling"}`, string(res.body))

	// Ended: the read model says so.
	seq := b.emit(&events.RunRequested{RunID: "ended", Spec: runs.Spec{Agent: "claude", Prompt: "p", Workspace: ws}})
	seq2 := b.emit(&events.RunCompleted{RunID: "ended", Attempt: 1})
	b.project(seq, seq2)
	res = b.do(b.request(http.MethodPost, "/v1/runs/ended/cancel", nil))
	require.Equal(t, http.StatusConflict, res.status)
	p := res.problem(t)
	require.Equal(t, problems.Conflict, p.Code)
	require.Contains(t, p.Detail, "has already ended (completed)")
	res = b.do(b.request(http.MethodPost, "/v1/runs/nobody/cancel", nil))
	require.Equal(t, http.StatusNotFound, res.status)
}

// Rerun: a new run from the original request with the overrides, linked to it.
func TestRerunARunWithOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.startScheduler(queued)
	ws := t.TempDir()
	res := b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "fix it", "workspace": ws, "priority": 2, "model": "sonnet",
		"labels": map[string]string{"ticket": "PH-1"}})
	require.Equal(t, http.StatusAccepted, res.status)
	var orig struct{ ID string }
	require.NoError(t, json.Unmarshal(res.body, &orig))
	require.Eventually(t, func() bool { return len(f.commands()) == 1 }, 5*time.Second, 10*time.Millisecond)

	res = b.postJSON("/v1/runs/"+orig.ID+"/rerun", map[string]any{"priority": 7, "model": "opus"})
	require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
	var rerun struct{ ID, Status string }
	require.NoError(t, json.Unmarshal(res.body, &rerun))
	require.NotEqual(t, orig.ID, rerun.ID)
	require.Equal(t, "/v1/runs/"+rerun.ID, res.header.Get("Location"))
	require.Eventually(t, func() bool { return len(f.commands()) == 2 }, 5*time.Second, 10*time.Millisecond)
	cmd := f.commands()[1].cmd
	require.Equal(t, orig.ID, cmd.RerunOf)
	require.Equal(t, "fix it", cmd.Spec.Prompt)
	require.Equal(t, 7, *cmd.Spec.Priority)
	require.Equal(t, "opus", cmd.Spec.Model)
	require.Equal(t, map[string]string{"ticket": "PH-1"}, cmd.Spec.Labels)

	// No body: the same request again. Bad overrides and unknown runs are refused.
	res = b.do(b.request(http.MethodPost, "/v1/runs/"+orig.ID+"/rerun", nil))
	require.Equal(t, http.StatusAccepted, res.status, "%s", res.body)
	res = b.postJSON("/v1/runs/"+orig.ID+"/rerun", map[string]any{"priority": 70})
	require.Equal(t, "priority", res.problem(t).Field)
	res = b.postJSON("/v1/runs/nobody/rerun", map[string]any{})
	require.Equal(t, http.StatusNotFound, res.status)
}

// The queue comes from the active scheduler when one answers, else from
// the read model (live false); providers and runners from the read models.
func TestQueueProvidersAndRunners(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// No scheduler answers: the read model's view.
	_, err := b.db.Exec(b.ctx, `INSERT INTO scheduler_jobs (run_id, status, attempt, agent, provider, pool, workspace, priority,
		queued_at, requested_at, updated_at, last_seq, runner_id, not_before, retry_reason) VALUES
		('a', 'queued', 1, 'claude', 'claude', 'default', '/w', 5, now() - interval '1 minute', now(), now(), 1, NULL, NULL, NULL),
		('b', 'queued', 1, 'claude', 'claude', 'default', '/w', -1, now() - interval '2 minute', now(), now(), 2, NULL, NULL, NULL),
		('c', 'retry_wait', 1, 'codex', 'codex', 'default', '/w', 0, now(), now(), now(), 3, NULL, now() + interval '1 minute', 'runner_lost'),
		('d', 'running', 1, 'codex', 'codex', 'default', '/w', 0, now(), now(), now(), 4, 'w-1', NULL, NULL)`)
	require.NoError(t, err)
	res := b.get("/v1/queue")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var q struct {
		Live    bool
		Pending int
		Running int
		Jobs    []rpc.QueueJob
	}
	require.NoError(t, json.Unmarshal(res.body, &q))
	require.False(t, q.Live)
	require.Equal(t, 3, q.Pending)
	require.Equal(t, 1, q.Running)
	require.Equal(t, []string{"a", "b", "c"}, []string{q.Jobs[0].RunID, q.Jobs[1].RunID, q.Jobs[2].RunID})
	require.Equal(t, rpc.WaitBackoff, q.Jobs[2].Waiting)
	require.NotNil(t, q.Jobs[2].NotBefore)
	res = b.get("/v1/queue?provider=codex&limit=5")
	require.NoError(t, json.Unmarshal(res.body, &q))
	require.Len(t, q.Jobs, 1)
	require.Equal(t, "provider", b.get("/v1/queue?provider=a.b").problem(t).Field)
	require.Equal(t, "limit", b.get("/v1/queue?limit=0").problem(t).Field)

	// A scheduler answers: its view, live.
	sub, err := b.nats.Conn.Subscribe(subjects.SchedulerQueue, func(m *nats.Msg) {
		var req rpc.SchedulerQueueRequest
		_ = json.Unmarshal(m.Data, &req)
		data, _ := json.Marshal(rpc.SchedulerQueueReply{Instance: "s-1", AsOf: time.Now().UTC(), Pending: 1, Running: 2,
			Limits: rpc.SchedulerLimits{MaxRunning: 2, MaxPerProvider: 1, Capacity: 512, AgingHorizonMs: 600000},
			Jobs: []rpc.QueueJob{{RunID: "x", Position: 1, Attempt: 1, Agent: "claude", Provider: "claude", Pool: req.Pool, Workspace: "/w",
				Priority: 1, EffectivePriority: 3.5, QueuedAt: time.Now().UTC(), WaitMs: 60000, Waiting: rpc.WaitProviderHold}}})
		_ = m.Respond(data)
	})
	require.NoError(t, err)
	defer func() { _ = sub.Unsubscribe() }()
	res = b.get("/v1/queue?pool=gpu")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	require.NoError(t, json.Unmarshal(res.body, &q))
	require.True(t, q.Live)
	require.Equal(t, "gpu", q.Jobs[0].Pool, "the filters reach the scheduler")
	require.Equal(t, rpc.WaitProviderHold, q.Jobs[0].Waiting)

	// Providers: runs by state and the last hold, on while it lasts.
	_, err = b.db.Exec(b.ctx, `INSERT INTO provider_holds (provider, held_until, reason, reset_known, run_id, attempt, message, held_at, holds, updated_at, last_seq)
		VALUES ('claude', now() + interval '1 hour', 'usage_limit', true, 'a', 1, 'usage limit reached', now(), 2, now(), 5),
		       ('gemini', now() - interval '1 hour', 'rate_limited', false, NULL, NULL, NULL, now(), 1, now(), 6)`)
	require.NoError(t, err)
	res = b.get("/v1/providers")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var ps struct {
		Providers []struct {
			Provider                  string
			Queued, Retrying, Running int
			Held                      bool
			Holds                     int
		}
	}
	require.NoError(t, json.Unmarshal(res.body, &ps))
	require.Len(t, ps.Providers, 3)
	require.Equal(t, "claude", ps.Providers[0].Provider)
	require.Equal(t, 2, ps.Providers[0].Queued)
	require.True(t, ps.Providers[0].Held)
	require.Equal(t, "codex", ps.Providers[1].Provider)
	require.Equal(t, 1, ps.Providers[1].Retrying)
	require.Equal(t, 1, ps.Providers[1].Running)
	require.False(t, ps.Providers[2].Held, "an expired hold is off")

	// Runners: the fleet, with what runs on each.
	_, err = b.db.Exec(b.ctx, `INSERT INTO runners (runner_id, host, pool, slots, version, status, started_at, registered_at, last_seen, runs, updated_at, last_seq)
		VALUES ('w-1', 'h1', 'default', 2, 'dev', 'active', now(), now(), now(), '{}', now(), 7),
		       ('w-2', 'h2', 'default', 2, 'dev', 'lost', now(), now(), now(), '{z}', now(), 8)`)
	require.NoError(t, err)
	res = b.get("/v1/runners")
	require.Equal(t, http.StatusOK, res.status, "%s", res.body)
	var rs struct {
		Runners []struct {
			RunnerID, Status  string
			Running, LeftRuns []string
		}
	}
	require.NoError(t, json.Unmarshal(res.body, &rs))
	require.Equal(t, "w-1", rs.Runners[0].RunnerID)
	require.Equal(t, []string{"d"}, rs.Runners[0].Running)
	require.Equal(t, []string{"z"}, rs.Runners[1].LeftRuns)
}
