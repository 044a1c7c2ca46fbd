package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
)

type result struct {
	code           int
	stdout, stderr string
}

type bundle struct {
	t   *testing.T
	api *fakeAPI
	env map[string]string
}

func setup(t *testing.T) *bundle {
	t.Helper()
	t.Parallel()
	api := newFakeAPI(t)
	return &bundle{t: t, api: api, env: map[string]string{
		"PHANTOM_URL": api.srv.URL, "PHANTOM_TOKEN": api.token, "PHANTOM_DATA_DIR": t.TempDir(),
	}}
}

// run runs the command line with a bounded context.
func (b *bundle) run(stdin string, args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return b.runCtx(ctx, stdin, args...)
}

func (b *bundle) runCtx(ctx context.Context, stdin string, args ...string) result {
	b.t.Helper()
	var out, errb bytes.Buffer
	code := Main(ctx, App{
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string { return b.env[k] }, Components: func() []up.Component { return nil },
	}, args)
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestRunFollowsOutputAndExitsZero(t *testing.T) {
	b := setup(t)
	ws := t.TempDir()
	r := b.run("", "run", "--agent", "fake", "--workspace", ws, "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "hello from hello\nbye\n", r.stdout, "stdout is exactly the agent's stdout")
	require.Contains(t, r.stderr, "a warning\n")
	id := b.api.order[0]
	require.Contains(t, r.stderr, "phantom: run "+id+" queued (position 1)\n")
	require.Contains(t, r.stderr, "phantom: run "+id+" started on h1 (pid 42)")
	require.Contains(t, r.stderr, "phantom: run "+id+" completed in 1.2s\n")
	require.Len(t, b.api.submitted, 1)
	spec := b.api.submitted[0]
	require.Equal(t, runs.Spec{Agent: "fake", Prompt: "hello", Workspace: ws}, spec, "unset options stay unset, for profiles to fill")
}

func TestRunSendsOptionsAndDefaultsToTheCurrentDirectory(t *testing.T) {
	b := setup(t)
	r := b.run("", "run", "--agent", "fake", "-p", "5", "--timeout", "60", "--label", "team=core", "--pool", "gpu", "-q", "two", "words")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.NotContains(t, r.stderr, "phantom: run", "-q drops status lines")
	spec := b.api.submitted[0]
	require.Equal(t, 5, *spec.Priority)
	require.Equal(t, 60, *spec.TimeoutSeconds)
	require.Equal(t, map[string]string{"team": "core"}, spec.Labels)
	require.Equal(t, "gpu", spec.Pool)
	require.Equal(t, "two words", spec.Prompt)
	wd, err := os.Getwd()
	require.NoError(t, err)
	require.Equal(t, wd, spec.Workspace)

	r = b.run("the prompt\nfrom stdin\n", "run", "--agent", "fake", "-")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "the prompt\nfrom stdin", b.api.submitted[1].Prompt)
}

func TestRunExitsWithTheAgentsCode(t *testing.T) {
	b := setup(t)
	r := b.run("", "run", "--agent", "fake", "exit 3")
	require.Equal(t, 3, r.code)
	require.Contains(t, r.stderr, "failed: agent_error: the agent failed (exit code 3)")

	// No exit code (canceled, rejected, failed before spawning): 1.
	b.api.script = func(id string, spec runs.Spec) []events.Payload {
		return []events.Payload{&events.RunRequested{RunID: id, Spec: spec},
			&events.RunRejected{RunID: id, Reason: runs.ReasonWorkspaceNotGranted, Message: "not granted", Field: "workspace"}}
	}
	r = b.run("", "run", "--agent", "fake", "x")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "rejected: workspace_not_granted: not granted (field workspace)")

	// A retryable failure is not the end: the run goes on to complete.
	b.api.script = func(id string, spec runs.Spec) []events.Payload {
		one := 1
		return []events.Payload{
			&events.RunFailed{RunID: id, Attempt: 1, Reason: runs.ReasonRunnerLost, ExitCode: &one, Retryable: true},
			&events.RunRetryScheduled{RunID: id, Attempt: 1, NextAttempt: 2, BackoffMs: 500, Reason: runs.ReasonRunnerLost},
			&events.RunCompleted{RunID: id, Attempt: 2},
		}
	}
	r = b.run("", "run", "--agent", "fake", "x")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "attempt 1 failed (runner_lost); attempt 2 in 500ms")
}

func TestRunReconnectsWithLastEventID(t *testing.T) {
	b := setup(t)
	b.api.dropAfter = 5 // after the first stdout chunk
	r := b.run("", "run", "--agent", "fake", "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "hello from hello\nbye\n", r.stdout, "nothing lost, nothing twice")
	require.Equal(t, 1, strings.Count(r.stderr, "a warning\n"))
	require.Contains(t, r.stderr, "stream interrupted")
	require.Equal(t, 2, b.api.streams)
	fifth := b.api.runs[b.api.order[0]].events[4].Seq
	require.Equal(t, []string{"", "15"}, b.api.lastEventIDs)
	require.Equal(t, uint64(15), fifth)
}

func TestRunWaitsForARunTheAPIDoesNotKnowYet(t *testing.T) {
	b := setup(t)
	b.api.notFound = 2
	r := b.run("", "run", "--agent", "fake", "-q", "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "hello from hello\nbye\n", r.stdout)
	require.Equal(t, 3, b.api.streams)
}

func TestShellQuote(t *testing.T) {
	t.Parallel()
	require.Equal(t, "http://127.0.0.1:7400", shellQuote("http://127.0.0.1:7400"))
	require.Equal(t, `'it'\''s $x'`, shellQuote("it's $x"))
}

func TestRunDetachPrintsTheID(t *testing.T) {
	b := setup(t)
	r := b.run("", "run", "--agent", "fake", "-d", "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, b.api.order[0]+"\n", r.stdout)
	require.Zero(t, b.api.streams, "detach does not follow")
}

func TestRunShowsAPIErrorsOnOneLine(t *testing.T) {
	b := setup(t)
	b.api.reject = &problems.Problem{Status: 400, Title: "Invalid request", Detail: "priority 11 must be -10..10", Field: "priority", Code: problems.InvalidRequest}
	r := b.run("", "run", "--agent", "fake", "-p", "11", "x")
	require.Equal(t, ExitAPI, r.code)
	require.Equal(t, "phantom: could not submit the run: priority 11 must be -10..10 (field priority) [invalid_request, HTTP 400]\n", r.stderr)

	b.env["PHANTOM_TOKEN"] = "wrong"
	r = b.run("", "ps")
	require.Equal(t, ExitFailed, r.code)
	require.Equal(t, "phantom: could not list runs: missing or wrong bearer token [unauthorized, HTTP 401]\n", r.stderr)
}

func TestRunWhenPhantomIsDown(t *testing.T) {
	b := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b.env["PHANTOM_URL"] = "http://" + l.Addr().String()
	require.NoError(t, l.Close())
	r := b.run("", "run", "--agent", "fake", "x")
	require.Equal(t, ExitAPI, r.code)
	require.Contains(t, r.stderr, "connection refused (is `phantom up` running?)")
}

func TestRunUsageErrors(t *testing.T) {
	b := setup(t)
	r := b.run("", "run", "hello")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--agent is required")
	r = b.run("", "run", "--agent", "fake")
	require.Equal(t, ExitUsage, r.code)
	r = b.run("", "run", "--agent", "fake", "--label", "nokey", "x")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, `--label "nokey" must be key=value`)
	r = b.run("", "run", "--no-such-flag")
	require.Equal(t, ExitUsage, r.code)
	b.env["PHANTOM_AGENT"] = "fake"
	r = b.run("", "run", "-q", "hello")
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Len(t, b.api.submitted, 1, "only the last, valid command submitted a run")
	require.Equal(t, "fake", b.api.submitted[0].Agent, "PHANTOM_AGENT stands in for --agent")
}

func TestCtrlCStopsFollowingAndSaysHowToResume(t *testing.T) {
	b := setup(t)
	id := b.api.add("running", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan result, 1)
	go func() { done <- b.runCtx(ctx, "", "logs", "-f", id) }()
	b.api.append(id, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: id, Attempt: 1, Seq: 1, Data: "working\n"}})
	require.Eventually(t, func() bool {
		b.api.mu.Lock()
		defer b.api.mu.Unlock()
		return b.api.streams == 1
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	r := <-done
	require.Equal(t, ExitInterrupted, r.code)
	require.Contains(t, r.stderr, "phantom: stopped following run "+id+"; it goes on (phantom logs -f "+id+")")
}

func TestPsListsRuns(t *testing.T) {
	b := setup(t)
	code := 3
	old := b.api.add("failed", &code)
	r := b.run("", "run", "--agent", "fake", "hello")
	require.Equal(t, ExitOK, r.code)
	recent := b.api.order[1]
	b.api.mu.Lock()
	zero := 0
	b.api.runs[recent].run.ExitCode = &zero
	b.api.mu.Unlock()

	r = b.run("", "ps")
	require.Equal(t, ExitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3)
	require.Equal(t, []string{"ID", "STATUS", "AGENT", "AGE", "EXIT", "PROMPT"}, strings.Fields(lines[0]))
	require.Equal(t, []string{recent, "completed", "fake", "1m", "0", "hello"}, strings.Fields(lines[1]), "newest first")
	require.Equal(t, []string{old, "failed", "fake", "3h", "3", "p", old}, strings.Fields(lines[2]))

	r = b.run("", "ps", "-n", "1")
	require.Equal(t, 2, len(strings.Split(strings.TrimSpace(r.stdout), "\n")))
	require.Contains(t, r.stderr, "more runs than 1: phantom ps --all")
	r = b.run("", "ps", "-n", "1", "--all")
	require.Equal(t, 3, len(strings.Split(strings.TrimSpace(r.stdout), "\n")), "--all follows the cursor")
	r = b.run("", "ps", "--json")
	require.Contains(t, r.stdout, `"id": "`+old+`"`)
	r = b.run("", "ps", "-n", "0")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "--limit 0 must be 1..1000")
}

func TestLogsReplaysAndFollows(t *testing.T) {
	b := setup(t)
	r := b.run("", "run", "--agent", "fake", "-d", "hello")
	id := strings.TrimSpace(r.stdout)
	r = b.run("", "logs", "-q", id)
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "hello from hello\nbye\n", r.stdout)
	require.Equal(t, "a warning\n", r.stderr)

	// -f waits for what has not happened yet, and ends with the run.
	live := b.api.add("running", nil)
	done := make(chan result, 1)
	go func() { done <- b.run("", "logs", "-f", live) }()
	b.api.append(live, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: live, Attempt: 1, Seq: 1, Data: "one\n"}})
	time.Sleep(50 * time.Millisecond)
	b.api.append(live, &events.RunChunkStdout{RunChunk: events.RunChunk{RunID: live, Attempt: 1, Seq: 2, Data: "two\n"}})
	b.api.append(live, &events.RunCompleted{RunID: live, Attempt: 1})
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("logs -f did not end with the run")
	}
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Equal(t, "one\ntwo\n", r.stdout)

	// Without -f, a live run's logs end at the current end.
	r = b.run("", "logs", b.api.add("running", nil))
	require.Equal(t, ExitOK, r.code, r.stderr)
	require.Empty(t, r.stdout)
	r = b.run("", "logs", "nope")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "no run nope [not_found, HTTP 404]")
}

func TestClientFindsPhantomUpsSettings(t *testing.T) {
	b := setup(t)
	dir := b.env["PHANTOM_DATA_DIR"]
	require.NoError(t, client.WriteSettings(filepath.Join(dir, client.FileName), client.Settings{URL: b.api.srv.URL, Token: b.api.token}))
	delete(b.env, "PHANTOM_URL")
	delete(b.env, "PHANTOM_TOKEN")
	r := b.run("", "ps")
	require.Equal(t, ExitOK, r.code, r.stderr)

	// Flags win over the environment, which wins over the file.
	b.env["PHANTOM_TOKEN"] = "wrong"
	r = b.run("", "ps")
	require.Equal(t, ExitFailed, r.code)
	r = b.run("", "--token", b.api.token, "ps")
	require.Equal(t, ExitOK, r.code, r.stderr)

	require.NoError(t, os.Remove(filepath.Join(dir, client.FileName)))
	delete(b.env, "PHANTOM_TOKEN")
	r = b.run("", "ps")
	require.Equal(t, ExitFailed, r.code)
	require.Contains(t, r.stderr, "no API token: start `phantom up`")
}

func TestVersionAndHelp(t *testing.T) {
	b := setup(t)
	r := b.run("", "version")
	require.Equal(t, ExitOK, r.code)
	require.True(t, strings.HasPrefix(r.stdout, "phantom "))
	r = b.run("", "up", "--help")
	require.Equal(t, ExitOK, r.code)
	require.Contains(t, r.stdout, "Configuration (environment variables):")
	require.Contains(t, r.stdout, "PHANTOM_NATS_LISTEN")
	require.Contains(t, r.stdout, "PHANTOM_DATABASE_URL")
	r = b.run("", "run", "--help")
	require.Contains(t, r.stdout, "125   the run could not be submitted")
}

func TestUpPrintEnvAndComponents(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PHANTOM_DATA_DIR", dir)
	t.Setenv("PHANTOM_TOKEN", "")
	t.Setenv("PHANTOM_HTTP_ADDR", "127.0.0.1:7411")
	b := &bundle{t: t, env: map[string]string{}}
	r := b.run("", "up", "--print-env")
	require.Equal(t, ExitOK, r.code, r.stderr)
	tok, err := os.ReadFile(filepath.Join(dir, up.TokenFile))
	require.NoError(t, err)
	require.Equal(t, "export PHANTOM_URL=http://127.0.0.1:7411\nexport PHANTOM_TOKEN="+strings.TrimSpace(string(tok))+"\n", r.stdout)
	again := b.run("", "up", "--print-env")
	require.Equal(t, r.stdout, again.stdout, "the token is made once")

	r = b.run("", "up", "--components")
	require.Equal(t, ExitOK, r.code)
	require.Empty(t, r.stdout, "this test's build composes nothing")
	t.Setenv("PHANTOM_SHUTDOWN_TIMEOUT", "soon")
	r = b.run("", "up")
	require.Equal(t, ExitUsage, r.code)
	require.Contains(t, r.stderr, "SHUTDOWN_TIMEOUT")
}
