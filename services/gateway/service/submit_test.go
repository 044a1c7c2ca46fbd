package service_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/envelope"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/service"
)

func queued(cmd commands.SubmitRun) events.Payload {
	return events.RunQueued{RunID: cmd.RunID, Attempt: 1, Provider: cmd.Spec.ProviderOrAgent(), Pool: cmd.Spec.PoolOrDefault(), Position: 3}
}

func intp(n int) *int { return &n }

func TestSubmitQueuedPublishesTheCommandWithTheSpecAndTrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	sched := b.startScheduler(queued)
	spec := runs.Spec{
		Agent: "claude", Prompt: "Fix the failing test.", Workspace: "/home/me/src/phantom",
		Pool: "gpu", Provider: "anthropic", Model: "opus", Profile: "careful",
		Priority: intp(-10), TimeoutSeconds: intp(10800), Isolation: runs.IsolationWorktree,
		Labels: map[string]string{"ticket": "PH-12"},
	}
	// The profile it names exists (an empty one: the request is sent as is).
	require.Equal(t, http.StatusOK, b.put("/v1/profiles/careful", map[string]any{}).status)
	body, err := json.Marshal(spec)
	require.NoError(t, err)
	req := b.request(http.MethodPost, "/v1/runs", body)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	started := time.Now()
	res := b.do(req)
	require.Equal(t, http.StatusAccepted, res.status, "body: %s", res.body)
	require.Less(t, time.Since(started), b.cfg.SubmitWait, "a queued answer must not wait for the timeout")

	var got api.Submitted
	require.NoError(t, json.Unmarshal(res.body, &got))
	require.Equal(t, api.StatusQueued, got.Status)
	require.Equal(t, 3, got.Position)
	require.Equal(t, "/v1/runs/"+got.RunID, res.header.Get("Location"))
	require.Len(t, got.RunID, 26, "run ids are ULIDs")

	cmds := sched.commands()
	require.Len(t, cmds, 1)
	c := cmds[0]
	require.Equal(t, got.RunID, c.cmd.RunID)
	require.Equal(t, spec, c.cmd.Spec, "the command carries the spec as submitted")
	require.Equal(t, "api", c.cmd.RequestedBy)
	require.Equal(t, "command.scheduler.submit_run", c.msg.Type)
	require.Equal(t, "phantom.cmd.scheduler.submit_run", c.msg.NATSSubject)
	require.Equal(t, "submit-"+got.RunID, c.msg.ID, "the command id makes a retried publish a duplicate")
	require.Equal(t, "phantom/gateway/test", c.msg.Source)
	require.Contains(t, c.msg.TraceParent, traceID, "the trace of the request rides in the command")
}

func TestSubmitRefusesEachInvalidFieldAndPublishesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) {
		c.WorkspaceRoots = []string{"/home/me/src", "/srv/work"}
		c.MaxPromptBytes = 1024
		c.MaxBodyBytes = 8 << 10
	})
	valid := func() map[string]any {
		return map[string]any{"agent": "claude", "prompt": "do it", "workspace": "/home/me/src/app"}
	}
	with := func(k string, v any) map[string]any {
		m := valid()
		m[k] = v
		return m
	}
	without := func(k string) map[string]any {
		m := valid()
		delete(m, k)
		return m
	}
	type tc struct {
		name   string
		body   any // marshaled unless a string
		status int
		code   string
		field  string
		detail string // a substring of the detail
	}
	cases := []tc{
		{"unknown field", with("colour", "red"), 400, problems.InvalidRequest, "colour", "allowed fields"},
		{"agent missing", without("agent"), 400, problems.InvalidRequest, "agent", "required"},
		{"agent not a token", with("agent", "claude.code"), 400, problems.InvalidRequest, "agent", "1-128 characters"},
		{"agent wrong type", with("agent", 7), 400, problems.InvalidRequest, "agent", "a string"},
		{"pool not a token", with("pool", "gpu pool"), 400, problems.InvalidRequest, "pool", "1-128 characters"},
		{"pool wildcard", with("pool", "*"), 400, problems.InvalidRequest, "pool", "1-128 characters"},
		{"provider not a token", with("provider", "a>b"), 400, problems.InvalidRequest, "provider", "1-128 characters"},
		{"profile not a token", with("profile", "my profile"), 400, problems.InvalidRequest, "profile", "1-128 characters"},
		{"prompt missing", without("prompt"), 400, problems.InvalidRequest, "prompt", "1..=1024 bytes"},
		{"prompt blank", with("prompt", " \n\t"), 400, problems.InvalidRequest, "prompt", "blank"},
		{"prompt too long", with("prompt", strings.Repeat("x", 1025)), 400, problems.InvalidRequest, "prompt", "1..=1024 bytes"},
		{"prompt with NUL", with("prompt", "a\x00b"), 400, problems.InvalidRequest, "prompt", "NUL"},
		{"workspace missing", without("workspace"), 400, problems.InvalidRequest, "workspace", "absolute"},
		{"workspace relative", with("workspace", "src/app"), 400, problems.InvalidRequest, "workspace", "absolute"},
		{"workspace dotdot", with("workspace", "/home/me/src/../../etc"), 400, problems.InvalidRequest, "workspace", ".."},
		{"workspace unclean", with("workspace", "/home/me/src//app/"), 400, problems.InvalidRequest, "workspace", "clean"},
		{"workspace outside roots", with("workspace", "/etc"), 403, problems.WorkspaceNotGranted, "workspace", "/home/me/src, /srv/work"},
		{"workspace sibling of a root", with("workspace", "/home/me/srcx"), 403, problems.WorkspaceNotGranted, "workspace", "allowed roots"},
		{"model not printable", with("model", "op\nus"), 400, problems.InvalidRequest, "model", "printable"},
		{"priority above", with("priority", 11), 400, problems.InvalidRequest, "priority", "-10..=10"},
		{"priority below", with("priority", -11), 400, problems.InvalidRequest, "priority", "-10..=10"},
		{"priority not an integer", with("priority", 1.5), 400, problems.InvalidRequest, "priority", "an integer"},
		{"priority a string", with("priority", "high"), 400, problems.InvalidRequest, "priority", "an integer"},
		{"timeout below", with("timeoutSeconds", 4), 400, problems.InvalidRequest, "timeoutSeconds", "5..=10800"},
		{"timeout above", with("timeoutSeconds", 10801), 400, problems.InvalidRequest, "timeoutSeconds", "5..=10800"},
		{"isolation unknown", with("isolation", "docker"), 400, problems.InvalidRequest, "isolation", `"worktree" or "none"`},
		{"label key invalid", with("labels", map[string]string{"bad key": "v"}), 400, problems.InvalidRequest, "labels", "label key"},
		{"labels not strings", with("labels", map[string]int{"n": 1}), 400, problems.InvalidRequest, "labels", "a string"},
		{"body not JSON", "{agent: claude}", 400, problems.InvalidRequest, "", "not valid JSON"},
		{"body two objects", `{"agent":"claude","prompt":"p","workspace":"/home/me/src"} {}`, 400, problems.InvalidRequest, "", "exactly one JSON object"},
		{"body an array", `[1,2]`, 400, problems.InvalidRequest, "", "a JSON object"},
		{"body empty", "", 400, problems.InvalidRequest, "", "empty"},
		{"body truncated", `{"agent":"claude"`, 400, problems.InvalidRequest, "", "truncated"},
		{"body too large", with("labels", map[string]string{"pad": strings.Repeat("x", 9000)}), 413, problems.InvalidRequest, "", "at most 8192 bytes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body []byte
			if s, ok := c.body.(string); ok {
				body = []byte(s)
			} else {
				var err error
				body, err = json.Marshal(c.body)
				require.NoError(t, err)
			}
			req := b.request(http.MethodPost, "/v1/runs", body)
			if len(body) == 0 {
				req.Body = http.NoBody
			}
			res := b.do(req)
			require.Equal(t, c.status, res.status, "body: %s", res.body)
			p := res.problem(t)
			require.Equal(t, c.code, p.Code)
			require.Equal(t, c.field, p.Field)
			require.Contains(t, p.Detail, c.detail)
		})
	}
	require.Zero(t, b.commandsPublished(), "a refused request must publish nothing")

	// The bounds themselves are accepted (and only now is something published).
	res := b.postJSON("/v1/runs", map[string]any{
		"agent": "a", "prompt": strings.Repeat("x", 1024), "workspace": "/srv/work",
		"priority": 10, "timeoutSeconds": 5, "isolation": "", "pool": "p_1-2",
	})
	require.Equal(t, http.StatusAccepted, res.status, "body: %s", res.body)
	require.Equal(t, uint64(1), b.commandsPublished())
}

func TestSubmitRejectionsBecomeProblems(t *testing.T) {
	t.Parallel()
	b := setup(t)
	reasons := map[string]string{} // prompt -> reason, so one scheduler serves every case
	b.startScheduler(func(cmd commands.SubmitRun) events.Payload {
		return events.RunRejected{RunID: cmd.RunID, Reason: reasons[cmd.Spec.Prompt], Message: "refused: " + reasons[cmd.Spec.Prompt], Field: "workspace"}
	})
	cases := []struct {
		reason string
		status int
		code   string
	}{
		{runs.ReasonQueueFull, http.StatusTooManyRequests, problems.QueueFull},
		{runs.ReasonInvalidRequest, http.StatusBadRequest, problems.InvalidRequest},
		{runs.ReasonPolicyDenied, http.StatusForbidden, problems.PolicyDenied},
		{runs.ReasonWorkspaceNotGranted, http.StatusForbidden, problems.WorkspaceNotGranted},
	}
	for _, c := range cases {
		reasons["prompt for "+c.reason] = c.reason
	}
	for _, c := range cases {
		res := b.postJSON("/v1/runs", map[string]any{"agent": "claude", "prompt": "prompt for " + c.reason, "workspace": "/w"})
		require.Equal(t, c.status, res.status, "%s: %s", c.reason, res.body)
		p := res.problem(t)
		require.Equal(t, c.code, p.Code)
		require.Contains(t, p.Detail, "refused: "+c.reason)
		require.Contains(t, p.Detail, c.reason)
		require.Equal(t, "workspace", p.Field)
		require.Regexp(t, `^/v1/runs/[0-9A-Z]{26}$`, p.Instance, "the problem names the rejected run")
	}
}

func TestSubmitWithoutAnAnswerIsAcceptedAfterTheWait(t *testing.T) {
	t.Parallel()
	const wait = 300 * time.Millisecond
	b := setup(t, func(c *service.Config) { c.SubmitWait = wait })
	started := time.Now()
	res := b.postJSON("/v1/runs", map[string]any{"agent": "fake", "prompt": "p", "workspace": "/w"})
	elapsed := time.Since(started)
	require.Equal(t, http.StatusAccepted, res.status, "body: %s", res.body)
	require.GreaterOrEqual(t, elapsed, wait)
	require.Less(t, elapsed, wait+2*time.Second)
	var got map[string]any
	require.NoError(t, json.Unmarshal(res.body, &got))
	require.Equal(t, "submitted", got["status"])
	require.NotContains(t, got, "position")
	// The command waits durably for a scheduler.
	require.Equal(t, uint64(1), b.commandsPublished())
	sched := b.startScheduler(queued)
	require.Eventually(t, func() bool { return len(sched.commands()) == 1 }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, got["id"], sched.commands()[0].cmd.RunID)
}

func TestSubmitIgnoresOtherRunsAnswers(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *service.Config) { c.SubmitWait = 500 * time.Millisecond })
	// A scheduler that answers for another run only: the submit must not take it as its own.
	b.startScheduler(func(cmd commands.SubmitRun) events.Payload {
		return events.RunRejected{RunID: envelope.NewID(), Reason: runs.ReasonQueueFull, Message: "not yours"}
	})
	res := b.postJSON("/v1/runs", map[string]any{"agent": "fake", "prompt": "p", "workspace": "/w"})
	require.Equal(t, http.StatusAccepted, res.status, "body: %s", res.body)
	require.Contains(t, string(res.body), `"submitted"`)
}
