// Package process is the runner's processes: it runs an agent as a child
// process in a process group of its own, with standard output and error on
// pipes the caller reads, and stops the whole group (interrupt, terminate,
// then kill) so that nothing the agent started outlives it (Spawner); it
// runs a run's shell prelude (Shell) and asks an agent CLI about itself
// (Probe). Each implements a port of the runner's use cases
// (internal/app/command).
package process

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/phantom-run/phantom/services/runner/internal/app/command"
)

// Spawner starts agents (command.Spawner).
type Spawner struct{}

// Spawn implements command.Spawner: Start, with a failure judged.
func (Spawner) Spawn(s command.SpawnSpec) (command.Agent, error) {
	p, err := Start(s)
	if err != nil {
		// With a SysProcAttr (the process group), os reports a directory
		// that cannot be entered as the executable's fork/exec failure;
		// say which it was, as os does without one.
		if s.Dir != "" && errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(s.Dir); serr != nil {
				var pe *fs.PathError
				if errors.As(serr, &pe) {
					pe.Op = "chdir"
					err = pe
				}
			}
		}
		var pe *fs.PathError
		noDir := errors.As(err, &pe) && pe.Op == "chdir"
		return nil, &command.SpawnError{Err: err, NoDir: noDir,
			Permanent: noDir || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)}
	}
	return p, nil
}

// Process is a started agent process.
type Process struct {
	cmd    *exec.Cmd
	stdout *os.File
	stderr *os.File
	stdin  *os.File
	start  time.Time
	exited chan struct{}
	// Set before exited is closed.
	state   *os.ProcessState
	waitErr error
	end     time.Time
}

// Start starts the process in a new process group. Its standard input is
// /dev/null (agents must not wait for a person) unless s.Stdin asks for a pipe.
func Start(s command.SpawnSpec) (*Process, error) {
	var inR, inW *os.File
	if s.Stdin {
		var err error
		if inR, inW, err = os.Pipe(); err != nil {
			return nil, fmt.Errorf("could not create a pipe: %w", err)
		}
	}
	closeIn := func() {
		if inR != nil {
			inR.Close()
			inW.Close()
		}
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeIn()
		return nil, fmt.Errorf("could not create a pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeIn()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("could not create a pipe: %w", err)
	}
	cmd := &exec.Cmd{
		Path:   s.Path,
		Args:   append([]string{s.Path}, s.Args...),
		Dir:    s.Dir,
		Env:    s.Env,
		Stdout: outW,
		Stderr: errW,
		// Its own group: signals reach everything the agent starts, and a
		// Ctrl-C at the runner's terminal does not reach the agent directly.
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if inR != nil {
		cmd.Stdin = inR
	}
	err = cmd.Start()
	// The child has its copies; ours must go so that EOF comes when it exits.
	outW.Close()
	errW.Close()
	if inR != nil {
		inR.Close()
	}
	if err != nil {
		outR.Close()
		errR.Close()
		if inW != nil {
			inW.Close()
		}
		return nil, err
	}
	p := &Process{cmd: cmd, stdout: outR, stderr: errR, stdin: inW, start: time.Now(), exited: make(chan struct{})}
	go p.wait()
	return p, nil
}

func (p *Process) wait() {
	err := p.cmd.Wait()
	p.end = time.Now()
	p.state, p.waitErr = p.cmd.ProcessState, err
	// Whatever the agent left behind in its group goes with it. The group
	// id stays reserved while any member lives, so this cannot hit a stranger.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	close(p.exited)
}

// PID is the process id (and the process group id).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Stdout and Stderr are the read ends of the output pipes; the caller reads
// and closes them.
func (p *Process) Stdout() command.Pipe { return p.stdout }
func (p *Process) Stderr() command.Pipe { return p.stderr }

// Stdin is the write end of the agent's standard input (nil unless
// SpawnSpec.Stdin); the caller closes it to end the session.
func (p *Process) Stdin() io.WriteCloser {
	if p.stdin == nil {
		return nil
	}
	return p.stdin
}

// Exited is closed once the process has exited and its group is killed.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Pause stops the whole process group where it is (SIGSTOP).
func (p *Process) Pause() error { return p.Signal(syscall.SIGSTOP) }

// Continue lets a paused process group run again (SIGCONT).
func (p *Process) Continue() error { return p.Signal(syscall.SIGCONT) }

// Signal sends sig to the whole process group.
func (p *Process) Signal(sig syscall.Signal) error {
	err := syscall.Kill(-p.cmd.Process.Pid, sig)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Stop interrupts the process group, terminates it after half the grace and
// kills it once the grace is over; it returns when the process has exited.
func (p *Process) Stop(grace time.Duration) {
	steps := []struct {
		sig   syscall.Signal
		after time.Duration
	}{{syscall.SIGINT, grace / 2}, {syscall.SIGTERM, grace - grace/2}, {syscall.SIGKILL, 0}}
	for _, s := range steps {
		_ = p.Signal(s.sig)
		if s.after == 0 {
			break
		}
		t := time.NewTimer(s.after)
		select {
		case <-p.exited:
			t.Stop()
			return
		case <-t.C:
		}
	}
	<-p.exited
}

// Exit returns how the process ended; call it after Exited is closed.
func (p *Process) Exit() command.Exit {
	e := command.Exit{Code: -1, Duration: p.end.Sub(p.start)}
	if p.state == nil {
		return e
	}
	e.Code = p.state.ExitCode()
	if ws, ok := p.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = unix.SignalName(ws.Signal())
		if e.Signal == "" {
			e.Signal = ws.Signal().String()
		}
	}
	e.CPUUser, e.CPUSys = p.state.UserTime(), p.state.SystemTime()
	if ru, ok := p.state.SysUsage().(*syscall.Rusage); ok {
		// Linux reports ru_maxrss in kilobytes.
		e.PeakRSS = ru.Maxrss * 1024
	}
	return e
}
