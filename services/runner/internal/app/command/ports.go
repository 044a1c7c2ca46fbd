package command

import (
	"context"
	"io"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// The ports of the runner's use cases: what they need from the outside
// world, each as small as its use, implemented in internal/adapters (NATS,
// JetStream, processes, files) and by fakes in the tests. The use cases
// import no adapter.

// Ports are the outside world of the runner's attempts.
type Ports struct {
	Worktrees    Worktrees
	History      History
	Capabilities Capabilities
	// OpenAppender opens the appender of one attempt's events.
	OpenAppender func(ctx context.Context) (Appender, error)
	Spawner      Spawner
	Executables  Executables
	Shell        Shell
	Dirs         PrivateDirs
	// Guard judges a run's shell prelude; nil when no safety guard is
	// configured (a prelude then fails closed).
	Guard Guard
	// GuardSockets serve the socket of the guard hook; nil injects no hook.
	GuardSockets GuardSockets
}

// Appender appends one attempt's events in order (adapters/eventlog).
type Appender interface {
	// Append sends an event without waiting for it to be stored.
	Append(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error
	// AppendSync appends an event and waits until it and everything before
	// it is stored.
	AppendSync(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error
	// Close waits for what was appended.
	Close() error
}

// Worktrees prepares an attempt's working directory (the host's worktree
// service, adapters/natsio).
type Worktrees interface {
	Prepare(ctx context.Context, req rpc.WorktreePrepareRequest) (rpc.WorktreePrepareReply, error)
}

// History reads the event log (adapters/natsio): whether an attempt
// already left a trace (started or ended), for dispatches delivered more
// than once; the provider session an earlier attempt opened on this host,
// for a retry to resume.
type History interface {
	AttemptSeen(ctx context.Context, runID string, attempt int) (bool, error)
	PreviousSession(ctx context.Context, runID string, before int, host string) (string, error)
}

// Capabilities are the agent CLIs detected on this runner (Detector).
type Capabilities interface {
	Get(agent string) (events.AgentCapability, bool)
}

// Delivery is the dispatch message an attempt came in, to acknowledge
// (ports/natsin).
type Delivery interface {
	// Ack: the attempt is recorded (started, or ended before starting).
	Ack() error
	// Nak hands the dispatch back to the pool.
	Nak() error
	// NakWithDelay hands it back to be delivered again after delay.
	NakWithDelay(delay time.Duration) error
	// InProgress extends the time the dispatch may stay unacknowledged.
	InProgress() error
	// Redelivered is true when this dispatch was delivered before.
	Redelivered() bool
}

// Spawner starts agents, each in a process group of its own
// (adapters/process).
type Spawner interface {
	// Spawn starts an agent; a failure is a *SpawnError.
	Spawn(s SpawnSpec) (Agent, error)
}

// SpawnSpec is the agent to start.
type SpawnSpec struct {
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

// SpawnError is a start that failed, as the spawner judged it.
type SpawnError struct {
	Err error
	// NoDir: the working directory could not be entered.
	NoDir bool
	// Permanent: trying again cannot help (a missing executable or directory).
	Permanent bool
}

func (e *SpawnError) Error() string { return e.Err.Error() }
func (e *SpawnError) Unwrap() error { return e.Err }

// Agent is a started agent and its process group.
type Agent interface {
	// PID is the process id (and the process group id).
	PID() int
	// Stdout and Stderr are the output pipes; their reader closes them.
	Stdout() Pipe
	Stderr() Pipe
	// Stdin is the agent's standard input in an interactive session, else
	// nil; closing it ends the session.
	Stdin() io.WriteCloser
	// Exited is closed once the agent has exited and its group is gone.
	Exited() <-chan struct{}
	// Pause stops the whole group where it is; Continue lets it run again.
	Pause() error
	Continue() error
	// Stop interrupts the group, terminates it after half the grace and
	// kills it once the grace is over; it returns when the agent has exited.
	Stop(grace time.Duration)
	// Exit is how the agent ended (once Exited is closed).
	Exit() Exit
}

// Pipe is an agent's output pipe. A read deadline lets one goroutine both
// read it and flush what it batched on time (a deadline passed is
// os.ErrDeadlineExceeded).
type Pipe interface {
	io.ReadCloser
	SetReadDeadline(t time.Time) error
}

// Exit is how an agent process ended.
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

// Executables finds an agent's executable (adapters/process).
type Executables interface {
	LookPath(file string) (string, error)
}

// Probe asks an agent CLI about itself, for the capability detection
// (adapters/process).
type Probe interface {
	Executables
	// Run runs the executable at path with args and env until it exits or
	// ctx ends (its process group is killed then), and returns what it
	// printed on each stream.
	Run(ctx context.Context, path string, args, env []string) (stdout, stderr string, err error)
}

// Shell runs a run's shell prelude (adapters/process).
type Shell interface {
	// Run runs script with /bin/sh -c in dir with env, in a process group
	// of its own killed when ctx ends. output is the last 4 KiB it printed
	// (stdout and stderr together); code its exit code (-1 when a signal
	// ended it); err is set only when it could not run.
	Run(ctx context.Context, script, dir string, env []string) (output string, code int, err error)
}

// PrivateDirs hold each attempt's own files (adapters/privatedir): a
// directory only this user can enter, made before the launch is composed,
// removed with the attempt.
type PrivateDirs interface {
	Create() (string, error)
	// Write writes the plan's files into dir, readable by this user only.
	Write(dir string, files []launch.File) error
	Remove(dir string)
}

// Guard asks the safety guard to judge a command (phantom.rpc.guard.check,
// adapters/guardrelay).
type Guard interface {
	Check(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error)
}

// GuardSockets serve the unix socket through which an attempt's guard hook
// asks the safety guard (adapters/guardrelay).
type GuardSockets interface {
	// Serve listens in dir for the attempt until the socket is closed.
	Serve(dir, runID string, attempt int) (GuardSocket, error)
}

// GuardSocket is one attempt's socket.
type GuardSocket interface {
	// Env is the KEY=VALUE entry that tells the hook where the socket is.
	Env() string
	Close() error
}

// Redactor removes secrets from everything an attempt publishes
// (pkg/redact).
type Redactor interface {
	// String returns s with every secret in it masked.
	String(s string) string
	// Stream returns a filter that redacts one output stream as a whole,
	// holding back what it cannot judge yet, so a secret split across
	// writes, pauses or chunk cuts is masked whole.
	Stream() chunk.Filter
}
