package service_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/streams"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/pkg/opshttp"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

type testBundle struct {
	ctx  context.Context
	nats *testenv.NATS
}

func setup(t testing.TB, replicas int, cfg service.Config) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	n := testenv.StartNATS(t)
	for i := 0; i < replicas; i++ {
		nc, js := n.Connect(t)
		env := daemon.Env{Name: "safety-guard", Instance: daemon.NewInstanceID(), Logger: testenv.Logger(t), Conn: nc, JS: js,
			Metrics: prometheus.NewRegistry(), Checks: opshttp.NewChecks()}
		svc, err := service.New(ctx, cfg, env)
		require.NoError(t, err)
		sctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- svc.Run(sctx) }()
		t.Cleanup(func() { stop(); require.NoError(t, <-done) })
	}
	// The queue subscriptions are registered asynchronously: wait until one answers.
	require.Eventually(t, func() bool {
		_, err := n.Conn.Request(subjects.GuardCheck, []byte(`{"command":"true"}`), 200*time.Millisecond)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	return &testBundle{ctx: ctx, nats: n}
}

func (b *testBundle) check(t *testing.T, req rpc.GuardCheckRequest) rpc.GuardCheckReply {
	t.Helper()
	data, err := json.Marshal(req)
	require.NoError(t, err)
	msg, err := b.nats.Conn.RequestWithContext(b.ctx, subjects.GuardCheck, data)
	require.NoError(t, err)
	var reply rpc.GuardCheckReply
	require.NoError(t, json.Unmarshal(msg.Data, &reply))
	return reply
}

func TestAnswersAllowAndBlockWithRuleAndReason(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, service.Config{})
	repo := t.TempDir()
	allow := b.check(t, rpc.GuardCheckRequest{Command: "git status && ls -la", Cwd: repo})
	require.Equal(t, "allow", allow.Decision)

	block := b.check(t, rpc.GuardCheckRequest{Command: "cd /tmp && git reset --hard HEAD~1", Cwd: repo})
	require.Equal(t, "block", block.Decision)
	require.NotEmpty(t, block.Rule)
	require.Contains(t, block.Reason, "reset --hard")

	rm := b.check(t, rpc.GuardCheckRequest{Command: "rm -rf /", Cwd: repo})
	require.Equal(t, "block", rm.Decision)
}

func TestModeComesFromTheRequestOrTheConfig(t *testing.T) {
	t.Parallel()
	repo := t.TempDir()
	b := setup(t, 1, service.Config{Mode: "strict"})
	// Unparsable input: allowed to pass through in default mode, denied in strict.
	require.Equal(t, "block", b.check(t, rpc.GuardCheckRequest{Command: "echo 'unterminated", Cwd: repo}).Decision)
	bad := b.check(t, rpc.GuardCheckRequest{Command: "ls", Mode: "lenient"})
	require.Equal(t, "block", bad.Decision)
	require.Contains(t, bad.Error, "mode")
	bad = b.check(t, rpc.GuardCheckRequest{Command: "ls", RunID: "a.b"})
	require.Equal(t, "block", bad.Decision)
	require.Equal(t, "request.invalid", bad.Rule)
	require.Contains(t, bad.Error, "runId")
}

func TestMalformedRequestIsBlockedWithAnError(t *testing.T) {
	t.Parallel()
	b := setup(t, 1, service.Config{})
	msg, err := b.nats.Conn.RequestWithContext(b.ctx, subjects.GuardCheck, []byte("{not json"))
	require.NoError(t, err)
	var reply rpc.GuardCheckReply
	require.NoError(t, json.Unmarshal(msg.Data, &reply))
	require.Equal(t, "block", reply.Decision)
	require.Contains(t, reply.Error, "could not decode")
}

func TestDecisionsAboutARunAreAuditedWithSecretsRedacted(t *testing.T) {
	t.Parallel()
	b := setup(t, 2, service.Config{})
	const runID = "01JRUNAUDIT"
	secret := "sk-ant-api03-" + "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ"
	r := b.check(t, rpc.GuardCheckRequest{RunID: runID, Attempt: 2, Command: "ANTHROPIC_API_KEY=" + secret + " git reset --hard", Cwd: t.TempDir(), Origin: "hook"})
	require.Equal(t, "block", r.Decision)
	b.check(t, rpc.GuardCheckRequest{RunID: runID, Attempt: 2, Command: "ls", Origin: "runner"})
	// Without a run, nothing is appended.
	b.check(t, rpc.GuardCheckRequest{Command: "git reset --hard"})

	cons, err := bus.EnsureConsumer(b.ctx, b.nats.JS, streams.Events, jetstream.ConsumerConfig{
		Durable: "audit-test", FilterSubject: subjects.EventsOfType(events.AggregateRun, "run.policy_audit"),
	})
	require.NoError(t, err)
	var audits []*events.RunPolicyAudit
	require.Eventually(t, func() bool {
		batch, err := cons.FetchNoWait(10)
		require.NoError(t, err)
		for m := range batch.Messages() {
			ev, err := bus.DecodeEvent(m)
			require.NoError(t, err)
			require.Equal(t, "2", ev.Extensions["attempt"])
			audits = append(audits, ev.Payload.(*events.RunPolicyAudit))
			require.NoError(t, m.Ack())
		}
		return len(audits) >= 2
	}, 10*time.Second, 20*time.Millisecond)
	require.Len(t, audits, 2)
	byDecision := map[string]*events.RunPolicyAudit{}
	for _, a := range audits {
		byDecision[a.Decision] = a
		require.Equal(t, runID, a.RunID)
		require.NotContains(t, a.Command, secret)
	}
	require.Equal(t, "hook", byDecision["block"].Origin)
	require.Contains(t, byDecision["block"].Command, "git reset --hard")
	require.NotEmpty(t, byDecision["block"].Rule)
	require.Equal(t, "ls", byDecision["allow"].Command)
}

func TestBadSettingsAreRefusedNamingTheVariable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cfg  service.Config
		want string
	}{
		{service.Config{Mode: "lenient"}, "PHANTOM_GUARD_MODE"},
		{service.Config{Mode: "default", Timeout: 5 * time.Second}, "PHANTOM_GUARD_TIMEOUT"},
		{service.Config{Mode: "default", Timeout: time.Millisecond, RulesFile: "rules.json"}, "PHANTOM_GUARD_RULES_FILE"},
	} {
		require.ErrorContains(t, c.cfg.Validate(), c.want)
	}
}
