package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/bus"
)

// StartService runs a Phantom service as its own process against the
// test's NATS until the test ends: the standalone binary of the main
// package pkg (e.g. github.com/phantom-run/phantom/services/worktree), built
// once per test binary from the workspace (go.work), configured by env
// (PHANTOM_* entries, KEY=VALUE) like any deployment. It is how the tests
// of one service run another without importing it: a service's binary is
// its public wiring.
//
// ready tells when the service serves (it is polled for a minute). A
// standalone service provisions Phantom's streams with their default
// options when it starts, so once it is ready the test's own options are
// provisioned again. When the test ends the service gets SIGTERM and must
// exit cleanly within 30s; what it logs goes to t.Log.
func StartService(t testing.TB, n *NATS, pkg string, env []string, ready func() bool) {
	t.Helper()
	bin := buildService(t, pkg)
	cmd := exec.Command(bin)
	cmd.Env = append(serviceEnv(), "PHANTOM_NATS_URL="+n.URL, "PHANTOM_OPS_ADDR=127.0.0.1:0", "PHANTOM_LOG_LEVEL=debug",
		"PHANTOM_LOG_FORMAT=text")
	cmd.Env = append(cmd.Env, env...)
	name := path.Base(pkg)
	cmd.Stdout = testWriter{t}
	cmd.Stderr = testWriter{t}
	require.NoError(t, cmd.Start(), "could not start %s", name)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			require.NoError(t, err, "%s did not stop cleanly", name)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 30s of SIGTERM", name)
		}
	})

	deadline := time.Now().Add(time.Minute)
	for !ready() {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("%s exited before it was ready: %v", name, err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not ready within a minute", name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	require.NoError(t, bus.Provision(ctx, n.JS, n.Options))
}

// serviceEnv is this process's environment without its PHANTOM_*
// settings, which would configure the service behind the test's back.
func serviceEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PHANTOM_") {
			env = append(env, kv)
		}
	}
	return env
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*serviceBuild{}
)

type serviceBuild struct {
	once sync.Once
	bin  string
	err  error
}

// buildService builds pkg once per test binary, with the race detector
// when this binary has it (the build then reuses what `go test -race`
// compiled). The binary goes next to the test binary, in the work directory
// that go test removes when it is done.
func buildService(t testing.TB, pkg string) string {
	t.Helper()
	buildsMu.Lock()
	b, ok := builds[pkg]
	if !ok {
		b = &serviceBuild{}
		builds[pkg] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() {
		dir := filepath.Dir(os.Args[0])
		if !strings.Contains(dir, "go-build") {
			// A test binary built with -c: a directory of its own.
			if dir, b.err = os.MkdirTemp("", "phantom-testenv-"); b.err != nil {
				return
			}
		}
		b.bin = filepath.Join(dir, "phantom-"+path.Base(pkg))
		args := []string{"build", "-o", b.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		// go test puts the bin directory of its own toolchain first on PATH.
		out, err := exec.CommandContext(ctx, "go", append(args, pkg)...).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("could not build %s: %w\n%s", pkg, err, out)
		}
	})
	require.NoError(t, b.err)
	return b.bin
}
