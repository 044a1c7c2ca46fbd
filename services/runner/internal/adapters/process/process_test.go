package process_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/services/runner/internal/adapters/process"
	"github.com/phantom-run/phantom/services/runner/internal/app/command"
)

func sh(script string) command.SpawnSpec {
	return command.SpawnSpec{Path: "/bin/sh", Args: []string{"-c", script}, Env: []string{"PATH=/usr/bin:/bin"}}
}

func TestAnAgentsOutputAndExit(t *testing.T) {
	t.Parallel()
	a, err := process.Spawner{}.Spawn(sh(`echo out; echo err >&2; exit 3`))
	require.NoError(t, err)
	out, err := io.ReadAll(a.Stdout())
	require.NoError(t, err)
	errb, err := io.ReadAll(a.Stderr())
	require.NoError(t, err)
	<-a.Exited()
	require.Equal(t, "out\n", string(out))
	require.Equal(t, "err\n", string(errb))
	require.Nil(t, a.Stdin(), "standard input is /dev/null")
	exit := a.Exit()
	require.Equal(t, 3, exit.Code)
	require.Empty(t, exit.Signal)
	require.Positive(t, exit.PeakRSS)
}

func TestStopEndsTheWholeGroup(t *testing.T) {
	t.Parallel()
	a, err := process.Spawner{}.Spawn(sh(`sleep 30 & sleep 30; wait`))
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, a.Stdout()); close(done) }()
	a.Stop(2 * time.Second)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a child of the agent still holds its output")
	}
	// The shell may end on the first signal (SIGINT) or, when it was still
	// waiting for its children under load, on the second: either way it
	// ended by a signal of the graceful stop, not SIGKILL.
	require.Contains(t, []string{"SIGINT", "SIGTERM"}, a.Exit().Signal)
}

func TestAnInteractiveAgentReadsItsStdin(t *testing.T) {
	t.Parallel()
	spec := sh(`read line; echo "got $line"`)
	spec.Stdin = true
	a, err := process.Spawner{}.Spawn(spec)
	require.NoError(t, err)
	_, err = io.WriteString(a.Stdin(), "hello\n")
	require.NoError(t, err)
	require.NoError(t, a.Stdin().Close())
	out, err := io.ReadAll(a.Stdout())
	require.NoError(t, err)
	require.Equal(t, "got hello\n", string(out))
	<-a.Exited()
	require.Zero(t, a.Exit().Code)
}

func TestASpawnFailureIsJudged(t *testing.T) {
	t.Parallel()
	var se *command.SpawnError
	_, err := process.Spawner{}.Spawn(command.SpawnSpec{Path: filepath.Join(t.TempDir(), "missing")})
	require.True(t, errors.As(err, &se))
	require.True(t, se.Permanent, "a missing executable stays missing")
	require.False(t, se.NoDir)

	spec := sh("true")
	spec.Dir = filepath.Join(t.TempDir(), "gone")
	_, err = process.Spawner{}.Spawn(spec)
	require.True(t, errors.As(err, &se))
	require.True(t, se.NoDir)
	require.True(t, se.Permanent)
	require.Contains(t, err.Error(), "chdir "+spec.Dir)
}

func TestTheShellKeepsTheEndOfItsOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out, code, err := process.Shell{}.Run(context.Background(), `pwd; head -c 5000 /dev/zero | tr '\0' x; echo; echo failing >&2; exit 4`, dir, nil)
	require.NoError(t, err)
	require.Equal(t, 4, code)
	require.Len(t, out, 4096)
	require.True(t, strings.HasSuffix(out, "x\nfailing\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, code, err = process.Shell{}.Run(ctx, `sleep 30`, dir, nil)
	require.NoError(t, err)
	require.Equal(t, -1, code, "killed when its time is up")
}

func TestTheProbe(t *testing.T) {
	t.Parallel()
	path, err := process.Probe{}.LookPath("sh")
	require.NoError(t, err)
	stdout, stderr, err := process.Probe{}.Run(context.Background(), path, []string{"-c", `echo "v$V"; echo note >&2`}, []string{"V=1.2"})
	require.NoError(t, err)
	require.Equal(t, "v1.2\n", stdout)
	require.Equal(t, "note\n", stderr)
	_, err = process.Probe{}.LookPath("phantom-no-such-cli")
	require.Error(t, err)
}
