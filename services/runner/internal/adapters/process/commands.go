package process

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"
)

// Probe runs an agent CLI's questions about itself (`--version`, its model
// catalogue) for the capability detection (command.Probe).
type Probe struct{}

// LookPath finds an executable on PATH (exec.LookPath).
func (Probe) LookPath(file string) (string, error) { return exec.LookPath(file) }

// Run runs path with args and env in a process group of its own, killed
// when ctx ends; a CLI that leaves a child holding its output gets a
// second before the pipes are closed.
func (Probe) Run(ctx context.Context, path string, args, env []string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// Shell runs a run's shell prelude (command.Shell).
type Shell struct{}

// preludeOutput is how much of a prelude's output is kept: its end, where
// a failure says why.
const preludeOutput = 4096

// Run runs script with /bin/sh -c in dir with env, in a process group of
// its own killed when ctx ends. It keeps the last 4 KiB of what the script
// printed on both streams.
func (Shell) Run(ctx context.Context, script, dir string, env []string) (output string, code int, err error) {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out tail
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), ee.ExitCode(), nil
	}
	return out.String(), 0, err
}

// tail keeps the last preludeOutput bytes written.
type tail struct{ b bytes.Buffer }

func (t *tail) Write(p []byte) (int, error) {
	t.b.Write(p)
	if over := t.b.Len() - preludeOutput; over > 0 {
		t.b.Next(over)
	}
	return len(p), nil
}

func (t *tail) String() string { return t.b.String() }
