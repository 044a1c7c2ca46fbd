package command

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// An attempt's life, from its dispatch to its last event, against fakes of
// the ports: what it spawns, what its output becomes, how its exit is
// classified, how a cancel, a budget and a timeout stop it.

// Lines of the fake agent's stream-json (Claude Code's).
const (
	initLine   = `{"type":"system","subtype":"init","session_id":"sess-1","model":"claude-fake-1"}`
	helloLine  = `{"type":"assistant","message":{"id":"m1","role":"assistant","model":"claude-fake-1","content":[{"type":"text","text":"hello"}],"usage":{"input_tokens":100,"output_tokens":5}},"session_id":"sess-1"}`
	resultLine = `{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"sess-1","total_cost_usd":0.01}`
)

func ptr[T any](v T) *T { return &v }

func TestAnAttemptThatCompletes(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	del := start(t, r, dispatch(1))
	a := b.agent(t)
	a.print(t, initLine, helloLine, "a raw line with "+secret, resultLine)
	a.warn(t, "a warning")
	a.exitCode(0)
	ended(t, r)

	// Output chunks come between run.started and run.cli_exit, each stream
	// from a goroutine of its own, beside the parsed events (the output's
	// content is checked below).
	require.Equal(t, []string{"run.started", "run.semantic session", "run.semantic message", "run.semantic usage",
		"run.semantic result", "run.cli_exit", "run.runner_metrics", "run.completed"},
		firstOfEach(b.events.kinds(), "run.chunk.stdout", "run.chunk.stderr"))
	kinds := b.events.kinds()
	require.Equal(t, "run.started", kinds[0])
	require.Equal(t, []string{"run.cli_exit", "run.runner_metrics", "run.completed"}, kinds[len(kinds)-3:])

	// It was spawned as the fake agent in the worktree, with the run's
	// identity and without the runner's secrets.
	spec := b.spawner.tries()[0]
	require.Equal(t, "/opt/phantom", spec.Path)
	require.Equal(t, "/work/run1", spec.Dir)
	require.False(t, spec.Stdin)
	require.Contains(t, spec.Env, "PHANTOM_RUN_ID=run1")
	require.Contains(t, spec.Env, "PHANTOM_RUN_ATTEMPT=1")
	require.Contains(t, spec.Env, "PHANTOM_RUNNER_ID=r1")
	require.NotContains(t, spec.Env, "PHANTOM_RUN_ID=stale")
	require.NotContains(t, spec.Env, "PHANTOM_TOKEN=phantom-token-value")

	started := one[events.RunStarted](t, b.events)
	require.Equal(t, events.RunStarted{RunID: "run1", Attempt: 1, RunnerID: "r1", Host: "h", PID: a.pid,
		Argv: []string{"/opt/phantom", "go"}, Cwd: "/work/run1"}, started)
	acks, naks, _ := del.counts()
	require.Equal(t, 1, acks, "acknowledged once started")
	require.Zero(t, naks)

	// Its output, whole and redacted.
	out := b.events.output("stdout")
	require.Equal(t, strings.Join([]string{initLine, helloLine, "a raw line with [REDACTED]", resultLine}, "\n")+"\n", out)
	require.NotContains(t, out, secret)
	require.Equal(t, "a warning\n", b.events.output("stderr"))
	usage := find[events.RunSemantic](b.events)[2].Usage
	require.Equal(t, int64(100), usage.InputTokens)

	exit := one[events.RunCLIExit](t, b.events)
	require.Equal(t, events.RunCLIExit{RunID: "run1", Attempt: 1, ExitCode: 0, DurationMs: 1500}, exit)
	metrics := one[events.RunRunnerMetrics](t, b.events)
	require.Equal(t, int64(1<<20), metrics.PeakRSSBytes)
	require.Equal(t, int64(len(out)-len("[REDACTED]")+len(secret)), metrics.StdoutBytes, "raw bytes, counted before redaction")
	require.Equal(t, events.RunCompleted{RunID: "run1", Attempt: 1, ExitCode: 0, DurationMs: 1500, Result: "done"},
		one[events.RunCompleted](t, b.events))

	created, removed, _ := b.dirs.state()
	require.Equal(t, created, removed, "the private directory goes with the attempt")
	require.Len(t, r.slots, 0, "the slot is free again")
}

// firstOfEach keeps the first event of each kind but those left out, so
// that a sequence does not depend on how output was batched into chunks
// and when the parsing goroutine appended its events among them.
func firstOfEach(kinds []string, leaveOut ...string) []string {
	seen := map[string]bool{}
	for _, k := range leaveOut {
		seen[k] = true
	}
	var out []string
	for _, k := range kinds {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func TestAnAgentsExitIsClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		stdout  []string
		stderr  []string
		exit    Exit
		reason  string
		message string
	}{
		{name: "an error exit says its last stderr line", stderr: []string{"starting", "fatal: no such repository"},
			exit: Exit{Code: 2}, reason: runs.ReasonAgentError, message: "the agent exited with code 2: fatal: no such repository"},
		{name: "a signal the runner did not send", stdout: []string{initLine},
			exit: Exit{Code: -1, Signal: "SIGKILL"}, reason: runs.ReasonKilled, message: "the agent was ended by SIGKILL"},
		{name: "a result that failed on its turn limit",
			stdout: []string{initLine, `{"type":"result","subtype":"error_max_turns","is_error":true,"session_id":"sess-1"}`},
			exit:   Exit{Code: 1}, reason: runs.ReasonMaxTurns, message: "the agent reached its turn limit (exit code 1)"},
		{name: "a quota refusal with its reset time", stdout: []string{initLine}, stderr: []string{"Claude AI usage limit reached|1767225600"},
			exit: Exit{Code: 1}, reason: runs.ReasonUsageLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, b := setup(t)
			start(t, r, dispatch(1))
			a := b.agent(t)
			a.print(t, tc.stdout...)
			a.warn(t, tc.stderr...)
			a.end(tc.exit)
			ended(t, r)

			failed := one[events.RunFailed](t, b.events)
			require.Equal(t, tc.reason, failed.Reason)
			if tc.message != "" {
				require.Equal(t, tc.message, failed.Message)
			}
			if tc.exit.Signal == "" {
				require.Equal(t, &tc.exit.Code, failed.ExitCode)
			} else {
				require.Nil(t, failed.ExitCode)
			}
			if tc.reason == runs.ReasonUsageLimit {
				require.Equal(t, time.Unix(1767225600, 0).UTC(), failed.ResetsAt.UTC())
				require.True(t, failed.Retryable, "a quota failure is always retryable")
			}
			require.Empty(t, find[events.RunCompleted](b.events))
			require.Empty(t, a.stopped(), "an agent that ended by itself is not stopped")
		})
	}
}

func TestACancelStopsTheAgent(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	start(t, r, dispatch(1))
	a := b.agent(t)
	a.print(t, initLine)
	require.False(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 2}), "another attempt's cancel is ignored")
	require.True(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 1, By: "me", Reason: "user_canceled"}))
	ended(t, r)

	require.Equal(t, []time.Duration{3 * time.Second}, a.stopped(), "stopped with the kill grace")
	require.Equal(t, events.RunCanceled{RunID: "run1", Attempt: 1, Reason: "user_canceled", By: "me"}, one[events.RunCanceled](t, b.events))
	require.Equal(t, "SIGINT", one[events.RunCLIExit](t, b.events).Signal)
	require.Empty(t, find[events.RunFailed](b.events))
	require.False(t, r.Cancel(commands.RunnerCancel{RunnerID: "r1", RunID: "run1", Attempt: 1}), "the attempt is over")
}

func TestTheBudgetStopsTheAgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		budget  runs.Budget
		message string
	}{
		{"tokens", runs.Budget{MaxTokens: ptr(int64(50))}, "the run used 105 tokens, over its budget of 50"},
		{"cost", runs.Budget{MaxCostUSD: ptr(0.005)}, "the run's cost reached $0.0100, over its budget of $0.0050"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, b := setup(t)
			d := dispatch(1)
			d.Spec.Budget = &tc.budget
			start(t, r, d)
			a := b.agent(t)
			if tc.budget.MaxCostUSD != nil {
				a.print(t, initLine, `{"type":"result","subtype":"success","is_error":false,"result":"partial","session_id":"sess-1","modelUsage":{"claude-fake-1":{"inputTokens":1,"outputTokens":1,"costUSD":0.01}}}`)
			} else {
				a.print(t, initLine, helloLine)
			}
			ended(t, r)

			require.Len(t, a.stopped(), 1, "the agent is stopped, not left to finish")
			failed := one[events.RunFailed](t, b.events)
			require.Equal(t, runs.ReasonBudgetExceeded, failed.Reason)
			require.Equal(t, tc.message, failed.Message)
			require.Empty(t, find[events.RunCompleted](b.events))
		})
	}
}

// The runner stops an agent past its harness timeout, at its attempt's
// deadline and when a drain gives up waiting; each is a failure of its own.
func TestTheRunnerStopsAnAgentInTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		edit      func(*commands.Dispatch)
		drain     bool
		reason    string
		message   string
		retryable bool
	}{
		{name: "harness timeout", edit: func(d *commands.Dispatch) { d.Spec.Harness = &runs.Harness{TimeoutMs: ptr(50)} },
			reason: runs.ReasonTimeout, message: "the agent passed its harness timeout of 50ms"},
		{name: "deadline", edit: func(d *commands.Dispatch) { d.Deadline = ptr(time.Now().Add(200 * time.Millisecond)) },
			reason: runs.ReasonTimeout, message: "the agent was stopped at the attempt's deadline"},
		{name: "drain", edit: func(d *commands.Dispatch) { d.RetriesLeft = 1 }, drain: true,
			reason: runs.ReasonRunnerLost, message: "runner r1 shut down while the agent ran", retryable: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, b := setup(t)
			d := dispatch(1)
			tc.edit(&d)
			start(t, r, d)
			a := b.agent(t)
			a.print(t, initLine)
			if tc.drain {
				require.Equal(t, []string{"run1"}, r.Drain(10*time.Millisecond), "handed back")
			}
			ended(t, r)

			require.Equal(t, []time.Duration{3 * time.Second}, a.stopped())
			failed := one[events.RunFailed](t, b.events)
			require.Equal(t, tc.reason, failed.Reason)
			require.Equal(t, tc.message, failed.Message)
			require.Equal(t, tc.retryable, failed.Retryable)
		})
	}
}

func TestASpawnFailure(t *testing.T) {
	t.Parallel()
	t.Run("a missing directory is not tried again", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t)
		b.spawner.failures = []error{&SpawnError{Err: &fs.PathError{Op: "chdir", Path: "/work/run1", Err: fs.ErrNotExist}, NoDir: true, Permanent: true}}
		del := start(t, r, dispatch(1))
		ended(t, r)

		require.Len(t, b.spawner.tries(), 1)
		require.Equal(t, []string{"run.cwd_missing", "run.failed"}, b.events.types())
		require.Equal(t, "/work/run1", one[events.RunCWDMissing](t, b.events).Cwd)
		failed := one[events.RunFailed](t, b.events)
		require.Equal(t, runs.ReasonCWDMissing, failed.Reason)
		require.Equal(t, "could not enter /work/run1: chdir /work/run1: file does not exist", failed.Message)
		acks, _, _ := del.counts()
		require.Equal(t, 1, acks)
	})
	t.Run("a start that may pass is tried again", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t, func(c *Config) { c.SpawnRetries = 2 })
		b.spawner.failures = []error{&SpawnError{Err: errTransient}, &SpawnError{Err: errTransient}}
		start(t, r, dispatch(1))
		b.agent(t).exitCode(0)
		ended(t, r)

		require.Len(t, b.spawner.tries(), 3)
		require.Equal(t, "run.started", b.events.types()[0])
		one[events.RunCompleted](t, b.events)
	})
	t.Run("retries are bounded", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t, func(c *Config) { c.SpawnRetries = 1 })
		b.spawner.failures = []error{&SpawnError{Err: errTransient}, &SpawnError{Err: errTransient}}
		start(t, r, dispatch(1))
		ended(t, r)

		require.Len(t, b.spawner.tries(), 2)
		failed := one[events.RunFailed](t, b.events)
		require.Equal(t, runs.ReasonSpawnFailed, failed.Reason)
		require.Equal(t, "could not start /opt/phantom: "+errTransient.Error(), failed.Message)
	})
	t.Run("a missing CLI is not spawned", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t)
		b.exes.missing["claude"] = true
		d := dispatch(1)
		d.Spec.Agent = "claude"
		start(t, r, d)
		ended(t, r)

		require.Empty(t, b.spawner.tries())
		require.Equal(t, []string{"run.cli_missing", "run.failed"}, b.events.types())
		require.Equal(t, runs.ReasonCLIMissing, one[events.RunFailed](t, b.events).Reason)
	})
}

func TestPauseResumeAndInput(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	d := dispatch(1)
	d.Spec.Interactive = ptr(true)
	start(t, r, d)
	a := b.agent(t)
	require.True(t, b.spawner.tries()[0].Stdin, "an interactive agent reads a pipe")

	require.True(t, r.Pause(commands.RunnerPause{RunID: "run1", Attempt: 1, By: "me"}))
	require.False(t, r.Pause(commands.RunnerPause{RunID: "run1", Attempt: 1, By: "me"}), "already paused")
	require.True(t, r.Resume(commands.RunnerResume{RunID: "run1", Attempt: 1, By: "me"}))
	require.Contains(t, a.readInput(t), `"content":"go"`, "the prompt is the first turn")
	require.True(t, r.Input(commands.RunnerInput{RunID: "run1", Attempt: 1, InputID: "in1", Text: "next\nturn " + secret}))
	require.Equal(t, "next turn "+secret, a.readInput(t), "a turn is one line")
	require.True(t, r.Input(commands.RunnerInput{RunID: "run1", Attempt: 1, Close: true}))
	require.False(t, r.Input(commands.RunnerInput{RunID: "run1", Attempt: 1, Text: "late"}), "the session is closed")
	a.exitCode(0)
	ended(t, r)

	a.mu.Lock()
	require.Equal(t, 1, a.pauses)
	require.Equal(t, 1, a.resumes)
	a.mu.Unlock()
	require.Equal(t, []string{"run.started", "session.opened", "run.paused", "run.resumed", "session.input_accepted", "session.closed",
		"run.cli_exit", "run.runner_metrics", "run.completed"}, b.events.types())
	require.Equal(t, "next\nturn [REDACTED]", one[events.SessionInputAccepted](t, b.events).Text, "the input is recorded redacted")
	require.Equal(t, "ended", one[events.SessionClosed](t, b.events).Reason)
}

func TestTheShellPrelude(t *testing.T) {
	t.Parallel()
	prelude := func(d *commands.Dispatch) { d.Spec.Harness = &runs.Harness{ShellPrelude: "make deps"} }
	t.Run("allowed and run before the agent", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t)
		b.shell.output = "deps ready " + secret
		d := dispatch(1)
		prelude(&d)
		start(t, r, d)
		b.agent(t).exitCode(0)
		ended(t, r)

		require.Equal(t, []string{"make deps"}, b.shell.scripts)
		require.Equal(t, []string{"/work/run1"}, b.shell.dirs)
		require.Equal(t, []rpc.GuardCheckRequest{{RunID: "run1", Attempt: 1, Command: "make deps", Cwd: "/work/run1", Workspace: "/w", Origin: "runner"}},
			b.guard.asked)
		progress := one[events.RunProgress](t, b.events)
		require.Equal(t, "prelude", progress.Phase)
		require.Equal(t, "deps ready [REDACTED]", progress.Message)
		require.Equal(t, "run.progress", b.events.types()[0], "the prelude runs before the agent starts")
		one[events.RunCompleted](t, b.events)
	})
	for _, tc := range []struct {
		name    string
		code    int
		reply   rpc.GuardCheckReply
		err     error
		ran     bool
		reason  string
		message string
	}{
		{name: "a failing prelude fails the run", code: 3, reply: rpc.GuardCheckReply{Decision: "allow"}, ran: true,
			reason: runs.ReasonAgentError, message: "the shell prelude exited with code 3"},
		{name: "blocked by the safety guard", reply: rpc.GuardCheckReply{Decision: "block", Rule: "no-make", Reason: "not today"},
			reason: runs.ReasonPolicyDenied, message: "the safety guard blocked the shell prelude (no-make): not today"},
		{name: "not judged fails closed", err: errors.New("the safety guard did not answer"),
			reason: runs.ReasonPolicyDenied, message: "the shell prelude could not be judged by the safety guard: the safety guard did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, b := setup(t)
			b.shell.code = tc.code
			b.guard.reply, b.guard.err = tc.reply, tc.err
			d := dispatch(1)
			prelude(&d)
			start(t, r, d)
			ended(t, r)

			require.Equal(t, tc.ran, len(b.shell.scripts) == 1, "the prelude ran")
			require.Empty(t, b.spawner.tries(), "the agent is not started")
			failed := one[events.RunFailed](t, b.events)
			require.Equal(t, tc.reason, failed.Reason)
			require.Equal(t, tc.message, failed.Message)
		})
	}
}

// A Claude Code run gets the guard hook in its settings and a socket in its
// private directory, with its MCP configuration beside it; both go with
// the attempt.
func TestAClaudeRunGetsTheGuardHookAndItsPrivateFiles(t *testing.T) {
	t.Parallel()
	r, b := setup(t, func(c *Config) { c.GuardHook = "'/opt/phantom' guard hook" })
	d := dispatch(1)
	d.Spec.Agent = "claude"
	d.Spec.Harness = &runs.Harness{MCPConfig: json.RawMessage(`{"mcpServers":{}}`)}
	start(t, r, d)
	a := b.agent(t)
	a.exitCode(0)
	ended(t, r)

	spec := b.spawner.tries()[0]
	require.Equal(t, "/usr/bin/claude", spec.Path)
	require.Contains(t, spec.Env, "PHANTOM_GUARD_SOCKET=/private/1/guard.sock")
	args := strings.Join(spec.Args, " ")
	require.Contains(t, args, "--mcp-config /private/1/mcp.json")
	require.Contains(t, args, `--settings {"hooks":{"PreToolUse":[{"hooks":[{"command":"'/opt/phantom' guard hook","type":"command"}],"matcher":"Bash"}]}}`)

	served, closed := b.sockets.state()
	require.Equal(t, []string{"/private/1 run1/1"}, served)
	require.Equal(t, 1, closed, "the socket is closed once the agent is gone")
	created, removed, written := b.dirs.state()
	require.Equal(t, []string{"/private/1"}, created)
	require.Equal(t, []string{"/private/1"}, removed)
	require.Equal(t, map[string][]launch.File{"/private/1": {{Name: "mcp.json", Data: []byte(`{"mcpServers":{}}`)}}}, written)
}

// A failure before the agent starts still closes the guard socket the
// launch opened and removes the private directory.
func TestAFailureBeforeTheStartLeavesNoSocket(t *testing.T) {
	t.Parallel()
	r, b := setup(t, func(c *Config) { c.GuardHook = "'/opt/phantom' guard hook" })
	b.shell.code = 1
	d := dispatch(1)
	d.Spec.Agent = "claude"
	d.Spec.Harness = &runs.Harness{ShellPrelude: "false"}
	start(t, r, d)
	ended(t, r)

	require.Equal(t, runs.ReasonAgentError, one[events.RunFailed](t, b.events).Reason)
	served, closed := b.sockets.state()
	require.Len(t, served, 1)
	require.Equal(t, 1, closed)
	_, removed, _ := b.dirs.state()
	require.Equal(t, []string{"/private/1"}, removed)
}

// A retry resumes the provider session an earlier attempt opened on this
// host; a resume the agent refuses starts it again without, once.
func TestARefusedResumeStartsAgainWithoutIt(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	b.history.session = "sess-old"
	start(t, r, dispatch(2))
	first := b.agent(t)
	require.Contains(t, strings.Join(b.spawner.tries()[0].Args, " "), "session=sess-old")
	first.warn(t, "No conversation found with session ID: sess-old")
	first.exitCode(1)
	second := b.agent(t)
	second.print(t, initLine, resultLine)
	second.exitCode(0)
	ended(t, r)

	require.NotContains(t, strings.Join(b.spawner.tries()[1].Args, " "), "sess-old")
	warning := one[events.RunWarning](t, b.events)
	require.Equal(t, "resume_failed", warning.Code)
	require.Equal(t, "restarted", one[events.RunProgress](t, b.events).Phase)
	require.Equal(t, "done", one[events.RunCompleted](t, b.events).Result)
	created, removed, _ := b.dirs.state()
	require.Len(t, created, 2, "each launch has its own private directory")
	require.Equal(t, created, removed)
}

func TestCapabilitiesGateTheLaunch(t *testing.T) {
	t.Parallel()
	t.Run("a blocked version is not run", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t)
		b.caps["fake"] = events.AgentCapability{Agent: "fake", Support: "blocked", Reason: "install 2.0"}
		start(t, r, dispatch(1))
		ended(t, r)
		require.Empty(t, b.spawner.tries())
		failed := one[events.RunFailed](t, b.events)
		require.Equal(t, runs.ReasonCLIBlocked, failed.Reason)
		require.Equal(t, "install 2.0", failed.Message)
	})
	t.Run("a degraded version runs with a warning", func(t *testing.T) {
		t.Parallel()
		r, b := setup(t)
		b.caps["fake"] = events.AgentCapability{Agent: "fake", Support: "degraded", Reason: "old"}
		start(t, r, dispatch(1))
		b.agent(t).exitCode(0)
		ended(t, r)
		require.Equal(t, events.RunWarning{RunID: "run1", Attempt: 1, Code: "cli_degraded", Message: "old"}, one[events.RunWarning](t, b.events))
	})
}

func TestMoreOutputThanALineHolds(t *testing.T) {
	t.Parallel()
	r, b := setup(t)
	start(t, r, dispatch(1))
	a := b.agent(t)
	long := strings.Repeat("x", 3000)
	a.print(t, long, "after")
	a.exitCode(0)
	ended(t, r)

	warning := one[events.RunWarning](t, b.events)
	require.Equal(t, "line_truncated", warning.Code)
	require.Equal(t, fmt.Sprintf("a line of stdout longer than %d bytes was truncated", 1024), warning.Message)
	require.True(t, strings.HasSuffix(b.events.output("stdout"), "after\n"))
}
