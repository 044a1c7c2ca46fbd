package runs_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/runs"
)

func intp(v int) *int         { return &v }
func boolp(v bool) *bool      { return &v }
func f64p(v float64) *float64 { return &v }

func valid() runs.Spec {
	return runs.Spec{Agent: "claude", Prompt: "fix it", Workspace: "/src/app"}
}

func TestValidateAcceptsEveryBound(t *testing.T) {
	t.Parallel()
	for _, s := range []runs.Spec{
		valid(),
		func() runs.Spec {
			s := valid()
			s.Priority, s.TimeoutSeconds, s.MaxRetries, s.RetryBackoffMs = intp(-10), intp(5), intp(0), intp(100)
			s.Harness = &runs.Harness{TimeoutMs: intp(5000), MaxToolResultLines: intp(1), MaxTurns: intp(1), Sandbox: runs.SandboxFullAccess,
				AutoApprove: boolp(false), Env: map[string]string{"FOO_1": "bar"}, MCPConfig: json.RawMessage(`{"mcpServers":{}}`)}
			return s
		}(),
		func() runs.Spec {
			s := valid()
			s.Priority, s.TimeoutSeconds, s.MaxRetries, s.RetryBackoffMs = intp(10), intp(10800), intp(10), intp(600000)
			s.Harness = &runs.Harness{TimeoutMs: intp(10800000), MaxToolResultLines: intp(20000), AutoApprove: boolp(true),
				Sandbox: runs.SandboxWorkspaceWrite, PermissionMode: "bypassPermissions", AllowedTools: []string{"Bash", "mcp__srv__tool"}}
			s.Budget = &runs.Budget{MaxCostUSD: f64p(2.5)}
			return s
		}(),
		// An interactive run may start without a prompt.
		func() runs.Spec { s := valid(); s.Prompt = ""; s.Interactive = boolp(true); return s }(),
	} {
		require.Nil(t, runs.Validate(s, runs.Limits{MaxPromptBytes: 100}), "%+v", s)
	}
}

func TestValidateNamesTheFieldAndTheRange(t *testing.T) {
	t.Parallel()
	with := func(f func(*runs.Spec)) runs.Spec { s := valid(); f(&s); return s }
	h := func(f func(*runs.Harness)) runs.Spec {
		s := valid()
		s.Harness = &runs.Harness{}
		f(s.Harness)
		return s
	}
	for _, tc := range []struct {
		name  string
		spec  runs.Spec
		field string
		msg   string
	}{
		{"no agent", with(func(s *runs.Spec) { s.Agent = "" }), "agent", "agent is required"},
		{"agent not a token", with(func(s *runs.Spec) { s.Agent = "a.b" }), "agent", "1-128 characters"},
		{"blank prompt", with(func(s *runs.Spec) { s.Prompt = "  " }), "prompt", "must not be blank (1..=100 bytes)"},
		{"long prompt", with(func(s *runs.Spec) { s.Prompt = strings.Repeat("x", 101) }), "prompt", "101 bytes; it must be 1..=100 bytes"},
		{"NUL prompt", with(func(s *runs.Spec) { s.Prompt = "a\x00b" }), "prompt", "NUL"},
		{"no workspace", with(func(s *runs.Spec) { s.Workspace = "" }), "workspace", "required"},
		{"relative workspace", with(func(s *runs.Spec) { s.Workspace = "src" }), "workspace", "absolute"},
		{"dotdot workspace", with(func(s *runs.Spec) { s.Workspace = "/src/../etc" }), "workspace", "'..'"},
		{"unclean workspace", with(func(s *runs.Spec) { s.Workspace = "/src//app/" }), "workspace", "clean path"},
		{"pool", with(func(s *runs.Spec) { s.Pool = "gpu pool" }), "pool", "1-128"},
		{"provider", with(func(s *runs.Spec) { s.Provider = "a>b" }), "provider", "1-128"},
		{"model", with(func(s *runs.Spec) { s.Model = "a\nb" }), "model", "printable"},
		{"profile", with(func(s *runs.Spec) { s.Profile = "a.b" }), "profile", "1-128"},
		{"priority high", with(func(s *runs.Spec) { s.Priority = intp(11) }), "priority", "priority must be an integer in -10..=10, got 11"},
		{"priority low", with(func(s *runs.Spec) { s.Priority = intp(-11) }), "priority", "-10..=10"},
		{"timeout low", with(func(s *runs.Spec) { s.TimeoutSeconds = intp(4) }), "timeoutSeconds", "5..=10800, got 4"},
		{"timeout high", with(func(s *runs.Spec) { s.TimeoutSeconds = intp(10801) }), "timeoutSeconds", "5..=10800"},
		{"isolation", with(func(s *runs.Spec) { s.Isolation = "docker" }), "isolation", "must be one of"},
		{"label key", with(func(s *runs.Spec) { s.Labels = map[string]string{"-x": ""} }), "labels", "label key"},
		{"retries", with(func(s *runs.Spec) { s.MaxRetries = intp(11) }), "maxRetries", "0..=10, got 11"},
		{"negative retries", with(func(s *runs.Spec) { s.MaxRetries = intp(-1) }), "maxRetries", "0..=10"},
		{"backoff low", with(func(s *runs.Spec) { s.RetryBackoffMs = intp(99) }), "retryBackoffMs", "100..=600000, got 99"},
		{"backoff high", with(func(s *runs.Spec) { s.RetryBackoffMs = intp(600001) }), "retryBackoffMs", "100..=600000"},
		{"budget cost", with(func(s *runs.Spec) { s.Budget = &runs.Budget{MaxCostUSD: f64p(0)} }), "budget.maxCostUsd", "(0, 1000000]"},
		{"harness timeout low", h(func(h *runs.Harness) { h.TimeoutMs = intp(4999) }), "harness.timeoutMs", "5000..=10800000, got 4999"},
		{"harness timeout high", h(func(h *runs.Harness) { h.TimeoutMs = intp(10800001) }), "harness.timeoutMs", "5000..=10800000"},
		{"tool result lines", h(func(h *runs.Harness) { h.MaxToolResultLines = intp(20001) }), "harness.maxToolResultLines", "1..=20000, got 20001"},
		{"max turns", h(func(h *runs.Harness) { h.MaxTurns = intp(0) }), "harness.maxTurns", "1..=10000"},
		{"sandbox", h(func(h *runs.Harness) { h.Sandbox = "yolo" }), "harness.sandbox", "read-only"},
		{"auto approve full access", h(func(h *runs.Harness) { h.AutoApprove = boolp(true); h.Sandbox = runs.SandboxFullAccess }),
			"harness.autoApprove", "refused by policy"},
		{"permission mode", h(func(h *runs.Harness) { h.PermissionMode = "rm -rf" }), "harness.permissionMode", "a word"},
		{"empty tool", h(func(h *runs.Harness) { h.AllowedTools = []string{""} }), "harness.allowedTools", "1..=256 bytes"},
		{"mcp not an object", h(func(h *runs.Harness) { h.MCPConfig = json.RawMessage(`[1]`) }), "harness.mcpConfig", "JSON object"},
		{"env name", h(func(h *runs.Harness) { h.Env = map[string]string{"1X": "y"} }), "harness.env", "must match"},
		{"env reserved", h(func(h *runs.Harness) { h.Env = map[string]string{"PHANTOM_RUN_ID": "y"} }), "harness.env", "reserved"},
		{"prelude NUL", h(func(h *runs.Harness) { h.ShellPrelude = "a\x00" }), "harness.shellPrelude", "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := runs.Validate(tc.spec, runs.Limits{MaxPromptBytes: 100})
			require.NotNil(t, err)
			require.Equal(t, runs.ReasonInvalidRequest, err.Reason)
			require.Equal(t, tc.field, err.Field)
			require.Contains(t, err.Message, tc.msg)
			require.Equal(t, err.Message, err.Error())
		})
	}
}

func TestValidateReportsTheFirstFaultInFieldOrder(t *testing.T) {
	t.Parallel()
	s := valid()
	s.Priority = intp(99)
	s.Harness = &runs.Harness{TimeoutMs: intp(1)}
	s.Agent = ""
	require.Equal(t, "agent", runs.Validate(s, runs.Limits{}).Field)
	s.Agent = "a"
	require.Equal(t, "priority", runs.Validate(s, runs.Limits{}).Field)
	s.Priority = nil
	require.Equal(t, "harness.timeoutMs", runs.Validate(s, runs.Limits{}).Field)
}

func TestValidatePartialLetsRequiredFieldsOut(t *testing.T) {
	t.Parallel()
	require.Nil(t, runs.Validate(runs.Spec{Priority: intp(3)}, runs.Limits{Partial: true}))
	require.Equal(t, "priority", runs.Validate(runs.Spec{Priority: intp(30)}, runs.Limits{Partial: true}).Field)
	// Without a limit the prompt's size is the transport's business.
	s := valid()
	s.Prompt = strings.Repeat("x", 1<<20)
	require.Nil(t, runs.Validate(s, runs.Limits{}))
}

func TestMergeIsNullSafe(t *testing.T) {
	t.Parallel()
	profile := runs.Spec{
		Agent: "claude", Workspace: "/src/app", Pool: "gpu", Model: "opus", Isolation: runs.IsolationWorktree,
		Priority: intp(5), TimeoutSeconds: intp(600), MaxRetries: intp(3), Labels: map[string]string{"team": "a"},
		Budget:  &runs.Budget{MaxCostUSD: f64p(3)},
		Harness: &runs.Harness{TimeoutMs: intp(60000), AllowedTools: []string{"Bash"}, Sandbox: runs.SandboxReadOnly, Continue: true},
		Profile: "nightly",
	}
	req := runs.Spec{
		Prompt: "fix it", Priority: intp(0), Labels: map[string]string{}, Profile: "mine",
		Harness: &runs.Harness{AllowedTools: []string{}, MaxTurns: intp(4)},
	}
	got := runs.Merge(profile, req)
	want := runs.Spec{
		Agent: "claude", Prompt: "fix it", Workspace: "/src/app", Pool: "gpu", Model: "opus", Isolation: runs.IsolationWorktree,
		Priority:       intp(0), // an explicit zero wins
		TimeoutSeconds: intp(600), MaxRetries: intp(3),
		Labels: map[string]string{}, // an explicit empty map wins
		Budget: &runs.Budget{MaxCostUSD: f64p(3)},
		Harness: &runs.Harness{TimeoutMs: intp(60000), AllowedTools: []string{}, MaxTurns: intp(4),
			Sandbox: runs.SandboxReadOnly, Continue: true},
		Profile: "mine",
	}
	require.Equal(t, want, got)

	// Nothing is shared with the inputs.
	*got.TimeoutSeconds = 1
	got.Harness.Env = map[string]string{"X": "1"}
	*got.Budget.MaxCostUSD = 9
	require.Equal(t, 600, *profile.TimeoutSeconds)
	require.Nil(t, profile.Harness.Env)
	require.Equal(t, 3.0, *profile.Budget.MaxCostUSD)

	// Merging with nothing is the identity.
	require.Equal(t, valid(), runs.Merge(runs.Spec{}, valid()))
	require.Equal(t, runs.Spec{}, runs.Merge(runs.Spec{}, runs.Spec{}))
}

func TestAttemptRetryable(t *testing.T) {
	t.Parallel()
	s := valid()
	require.True(t, runs.AttemptRetryable(s, runs.ReasonRunnerLost, 1))
	require.False(t, runs.AttemptRetryable(s, runs.ReasonRunnerLost, 0))
	require.True(t, runs.AttemptRetryable(s, runs.ReasonUsageLimit, 0), "a hold re-queues without a retry")
	require.True(t, runs.AttemptRetryable(s, runs.ReasonRateLimited, 0))
	require.False(t, runs.AttemptRetryable(s, runs.ReasonTimeout, 3))
	s.RetryOnTimeout = boolp(true)
	require.True(t, runs.AttemptRetryable(s, runs.ReasonTimeout, 3))
	require.False(t, runs.AttemptRetryable(s, runs.ReasonCanceled, 3))
	require.False(t, runs.AttemptRetryable(s, runs.ReasonPolicyDenied, 3))
	require.False(t, runs.AttemptRetryable(s, runs.ReasonAgentError, 3))
}

func TestPathWithin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path, root string
		want       bool
	}{
		{"/srv/code", "/srv/code", true},
		{"/srv/code/app", "/srv/code", true},
		{"/srv/code/a/b/c", "/srv/code", true},
		{"/srv/code/..hidden", "/srv/code", true},
		{"/anything", "/", true},
		{"/", "/", true},
		{"/srv/code/", "/srv/code", true},
		{"/srv/code", "/srv/code/", true},
		{"/srv/codebase", "/srv/code", false},
		{"/srv", "/srv/code", false},
		{"/etc", "/srv/code", false},
		{"/srv/code/..", "/srv/code", false},
		{"/srv/code/../other", "/srv/code", false},
		{"srv/code", "/srv", false},
		{"/srv/code", "srv", false},
		{"/srv/code", "", false},
		{"", "/", false},
	} {
		require.Equal(t, tc.want, runs.PathWithin(tc.path, tc.root), "%q in %q", tc.path, tc.root)
	}
}
