package fakeagent

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"
)

// EnvVar turns a binary into the fake agent when set to "1".
const EnvVar = "PHANTOM_FAKE_AGENT"

// MainIfRequested acts as the fake agent and exits the process when
// PHANTOM_FAKE_AGENT=1; otherwise it returns at once. Call it first thing in
// main (and in TestMain of tests that launch the fake agent by self-exec).
func MainIfRequested() {
	if os.Getenv(EnvVar) != "1" {
		return
	}
	os.Exit(Main(os.Args[1:]))
}

// Main runs the fake agent as this process with the command-line arguments
// args and returns its exit code.
func Main(args []string) int {
	s, err := Parse(Prompt(args))
	if err != nil {
		fmt.Fprintf(os.Stderr, "fake agent: %v\n", err)
		return 2
	}
	if s.Trap {
		signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	}
	cwd, _ := os.Getwd()
	return Run(context.Background(), s, Streams{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Cwd: cwd,
		Crash: func(name string) {
			sig, _ := signalByName(name)
			// Die by the signal itself, as a crashing CLI would, even if the
			// signal is one the runtime or a trap handles.
			signal.Reset(sig)
			// The runtime turns ABRT into a goroutine dump and exit code 2
			// unless told to crash, which re-raises the signal.
			debug.SetTraceback("crash")
			_ = syscall.Kill(os.Getpid(), sig)
			time.Sleep(time.Second)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		},
	})
}

// Prompt is the prompt given on a command line: the argument after -p (or
// --print) when there is one, else every argument joined by spaces.
func Prompt(args []string) string {
	for i, a := range args {
		if (a == "-p" || a == "--print") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return strings.Join(args, " ")
}

func signalByName(name string) (syscall.Signal, bool) {
	switch strings.TrimPrefix(strings.ToUpper(name), "SIG") {
	case "KILL":
		return syscall.SIGKILL, true
	case "ABRT":
		return syscall.SIGABRT, true
	case "TERM":
		return syscall.SIGTERM, true
	case "INT":
		return syscall.SIGINT, true
	case "HUP":
		return syscall.SIGHUP, true
	}
	return 0, false
}
