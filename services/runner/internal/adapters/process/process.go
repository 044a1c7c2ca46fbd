// Package process runs an agent as a child process in a process group of its
// own, with standard output and error on pipes the caller reads, and stops
// the whole group (interrupt, terminate, then kill) so that nothing the agent
// started outlives it.
package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Spec is what to run.
type Spec struct {
	// Path is the executable, Args its arguments (without argv[0]).
	Path string
	Args []string
	Dir  string
	// Env is the complete environment.
	Env []string
	// Stdin gives the agent a pipe as standard input (an interactive
	// session) instead of /dev/null.
	Stdin bool
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
func Start(s Spec) (*Process, error) {
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
func (p *Process) Stdout() *os.File { return p.stdout }

// Stdin is the write end of the agent's standard input (nil unless
// Spec.Stdin); the caller closes it to end the session.
func (p *Process) Stdin() *os.File  { return p.stdin }
func (p *Process) Stderr() *os.File { return p.stderr }

// Exited is closed once the process has exited and its group is killed.
func (p *Process) Exited() <-chan struct{} { return p.exited }

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

// Exit is how the process ended.
type Exit struct {
	// Code is the exit code, -1 when a signal ended the process.
	Code int
	// Signal names the signal (SIGKILL, ...) that ended it, if one did.
	Signal   string
	Duration time.Duration
	// PeakRSS is the largest resident set, in bytes.
	PeakRSS         int64
	CPUUser, CPUSys time.Duration
}

// Exit returns how the process ended; call it after Exited is closed.
func (p *Process) Exit() Exit {
	e := Exit{Code: -1, Duration: p.end.Sub(p.start)}
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
