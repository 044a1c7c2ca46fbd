package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/contracts/commands"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/redact"
	"github.com/phantom-run/phantom/pkg/testenv"
	"github.com/phantom-run/phantom/services/runner/internal/domain/agents"
	"github.com/phantom-run/phantom/services/runner/internal/domain/chunk"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// The runner's use cases run here against fakes of every port: deliveries,
// the worktree service, the event log, agents whose output pipes the test
// writes, the prelude's shell, the private directories, the safety guard.
// No process is started; the service tests run the same code against NATS,
// git and real processes.

// secret is a variable of the runner's environment that must never leave it.
const secret = "sk-ant-api03-test-SECRET-value-0123456789"

type bundle struct {
	worktrees *worktrees
	history   *history
	caps      capabilities
	events    *recorder
	spawner   *spawner
	exes      *executables
	shell     *shell
	dirs      *dirs
	guard     *guard
	sockets   *sockets
}

// setup builds a runner on fakes; edit changes its configuration.
func setup(t *testing.T, edit ...func(*Config)) (*Runner, *bundle) {
	t.Helper()
	b := &bundle{
		worktrees: &worktrees{reply: rpc.WorktreePrepareReply{Dir: "/work/run1"}},
		history:   &history{},
		caps:      capabilities{},
		events:    &recorder{},
		spawner:   &spawner{spawned: make(chan *agent, 4)},
		exes:      &executables{missing: map[string]bool{}},
		shell:     &shell{},
		dirs:      &dirs{},
		guard:     &guard{reply: rpc.GuardCheckReply{Decision: "allow"}},
		sockets:   &sockets{},
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	require.NoError(t, err)
	defs, err := agents.Load("agents.toml", nil)
	require.NoError(t, err)
	environ := []string{"PATH=/usr/bin", "ANTHROPIC_API_KEY=" + secret, "PHANTOM_TOKEN=phantom-token-value", "PHANTOM_RUN_ID=stale"}
	cfg := Config{RunnerID: "r1", Host: "h", Slots: 2, ChunkBytes: 1024, MaxLineBytes: 1024, ChunkInterval: time.Millisecond,
		KillGrace: 3 * time.Second, PrepareTimeout: 5 * time.Second, ProgressEvery: time.Second, SelfPath: "/opt/phantom",
		Agents: defs, Environ: environ, Redact: testRedactor{redact.New(redact.SecretEnv(environ)...)}, GuardTimeout: time.Second}
	for _, e := range edit {
		e(&cfg)
	}
	ports := Ports{Worktrees: b.worktrees, History: b.history, Capabilities: b.caps,
		OpenAppender: func(context.Context) (Appender, error) { return b.events, nil },
		Spawner:      b.spawner, Executables: b.exes, Shell: b.shell, Dirs: b.dirs, Guard: b.guard, GuardSockets: b.sockets}
	return NewRunner(context.Background(), cfg, ports, testenv.Logger(t), m), b
}

func dispatch(attempt int) commands.Dispatch {
	return commands.Dispatch{RunID: "run1", Attempt: attempt, Spec: runs.Spec{Agent: "fake", Workspace: "/w", Prompt: "go"}}
}

// start starts a dispatch in a slot, as the dispatch loop does.
func start(t *testing.T, r *Runner, d commands.Dispatch) *delivery {
	t.Helper()
	del := &delivery{}
	require.True(t, r.AcquireSlot(context.Background()))
	r.Start(context.Background(), d, del)
	return del
}

// ended waits until every attempt of the runner is over.
func ended(t *testing.T, r *Runner) {
	t.Helper()
	done := make(chan struct{})
	go func() { r.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the attempts did not end")
	}
}

// agent waits for the next agent the runner spawns.
func (b *bundle) agent(t *testing.T) *agent {
	t.Helper()
	select {
	case a := <-b.spawner.spawned:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no agent was spawned")
		return nil
	}
}

type delivery struct {
	mu                 sync.Mutex
	acks, naks, delays int
	redelivered        bool
}

func (d *delivery) Ack() error { d.mu.Lock(); defer d.mu.Unlock(); d.acks++; return nil }
func (d *delivery) Nak() error { d.mu.Lock(); defer d.mu.Unlock(); d.naks++; return nil }
func (d *delivery) NakWithDelay(time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delays++
	return nil
}
func (d *delivery) InProgress() error { return nil }
func (d *delivery) Redelivered() bool { return d.redelivered }
func (d *delivery) counts() (int, int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.acks, d.naks, d.delays
}

type history struct {
	seen    bool
	session string
}

func (h *history) AttemptSeen(context.Context, string, int) (bool, error) { return h.seen, nil }
func (h *history) PreviousSession(context.Context, string, int, string) (string, error) {
	return h.session, nil
}

type capabilities map[string]events.AgentCapability

func (c capabilities) Get(agent string) (events.AgentCapability, bool) {
	capa, ok := c[agent]
	return capa, ok
}

// worktrees answers reply, after release is closed when it is set.
type worktrees struct {
	reply   rpc.WorktreePrepareReply
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (w *worktrees) Prepare(ctx context.Context, _ rpc.WorktreePrepareRequest) (rpc.WorktreePrepareReply, error) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	if w.release != nil {
		select {
		case <-w.release:
		case <-ctx.Done():
			return rpc.WorktreePrepareReply{}, ctx.Err()
		}
	}
	return w.reply, nil
}

func (w *worktrees) called() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.calls
}

// recorder is the event log of one runner's attempts.
type recorder struct {
	mu  sync.Mutex
	evs []events.Payload
}

func (r *recorder) Append(_ context.Context, ev events.Payload, _ ...bus.MsgOption) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, ev)
	return nil
}
func (r *recorder) AppendSync(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) error {
	return r.Append(ctx, ev, opts...)
}
func (r *recorder) Close() error { return nil }

func (r *recorder) all() []events.Payload {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) types() []string {
	var out []string
	for _, ev := range r.all() {
		out = append(out, ev.EventType())
	}
	return out
}

// kinds lists the types of the events, with chunks and semantic events
// folded into one entry per run of them, so that a sequence reads as the
// attempt's life whatever the batching.
func (r *recorder) kinds() []string {
	var out []string
	for _, ev := range r.all() {
		k := ev.EventType()
		if sem, ok := ev.(events.RunSemantic); ok {
			k += " " + sem.Kind
		}
		if len(out) > 0 && out[len(out)-1] == k && strings.HasPrefix(k, "run.chunk.") {
			continue
		}
		out = append(out, k)
	}
	return out
}

// find returns the events of type T.
func find[T events.Payload](r *recorder) []T {
	var out []T
	for _, ev := range r.all() {
		if e, ok := ev.(T); ok {
			out = append(out, e)
		}
	}
	return out
}

// one returns the only event of type T.
func one[T events.Payload](t *testing.T, r *recorder) T {
	t.Helper()
	got := find[T](r)
	require.Len(t, got, 1, "events: %v", r.types())
	return got[0]
}

// output is everything recorded on one stream.
func (r *recorder) output(stream string) string {
	var b strings.Builder
	for _, ev := range r.all() {
		switch c := ev.(type) {
		case events.RunChunkStdout:
			if stream == "stdout" {
				b.WriteString(c.Data)
			}
		case events.RunChunkStderr:
			if stream == "stderr" {
				b.WriteString(c.Data)
			}
		}
	}
	return b.String()
}

// spawner hands every agent it starts to the test; failures are the
// errors of the first spawns.
type spawner struct {
	mu       sync.Mutex
	failures []error
	specs    []SpawnSpec
	spawned  chan *agent
}

func (s *spawner) Spawn(spec SpawnSpec) (Agent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.specs = append(s.specs, spec)
	if len(s.failures) > 0 {
		err := s.failures[0]
		s.failures = s.failures[1:]
		return nil, err
	}
	a, err := newAgent(len(s.specs), spec.Stdin)
	if err != nil {
		return nil, err
	}
	s.spawned <- a
	return a, nil
}

func (s *spawner) tries() []SpawnSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.specs)
}

// agent is a spawned agent the test drives: it writes its output, reads
// its input and ends it. Its pipes are pipes; there is no process.
type agent struct {
	pid             int
	stdout, stderr  *os.File // the runner's ends
	outW, errW      *os.File // the agent's ends
	stdin           *os.File // the runner's end, nil unless interactive
	stdinR          *os.File
	exited          chan struct{}
	mu              sync.Mutex
	exit            Exit
	ended           bool
	stops           []time.Duration
	pauses, resumes int
}

func newAgent(pid int, interactive bool) (*agent, error) {
	a := &agent{pid: 1000 + pid, exited: make(chan struct{})}
	var err error
	if a.stdout, a.outW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if a.stderr, a.errW, err = os.Pipe(); err != nil {
		return nil, err
	}
	if interactive {
		if a.stdinR, a.stdin, err = os.Pipe(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (a *agent) PID() int                { return a.pid }
func (a *agent) Stdout() Pipe            { return a.stdout }
func (a *agent) Stderr() Pipe            { return a.stderr }
func (a *agent) Exited() <-chan struct{} { return a.exited }
func (a *agent) Stdin() io.WriteCloser {
	if a.stdin == nil {
		return nil
	}
	return a.stdin
}

func (a *agent) Pause() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pauses++
	return nil
}

func (a *agent) Continue() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resumes++
	return nil
}

// Stop ends the agent as SIGINT would.
func (a *agent) Stop(grace time.Duration) {
	a.mu.Lock()
	a.stops = append(a.stops, grace)
	a.mu.Unlock()
	a.end(Exit{Code: -1, Signal: "SIGINT", Duration: time.Second})
	<-a.exited
}

func (a *agent) Exit() Exit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.exit
}

// print writes lines on stdout.
func (a *agent) print(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		_, err := a.outW.WriteString(l + "\n")
		require.NoError(t, err)
	}
}

// warn writes lines on stderr.
func (a *agent) warn(t *testing.T, lines ...string) {
	t.Helper()
	for _, l := range lines {
		_, err := a.errW.WriteString(l + "\n")
		require.NoError(t, err)
	}
}

// end ends the agent: its pipes close and it has exited as e says.
func (a *agent) end(e Exit) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	a.exit = e
	_ = a.outW.Close()
	_ = a.errW.Close()
	if a.stdinR != nil {
		_ = a.stdinR.Close()
	}
	close(a.exited)
}

// exitCode ends the agent with an exit code.
func (a *agent) exitCode(code int) {
	a.end(Exit{Code: code, Duration: 1500 * time.Millisecond, PeakRSS: 1 << 20})
}

func (a *agent) stopped() []time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.stops)
}

// readInput reads what the runner wrote on the agent's stdin, one line.
func (a *agent) readInput(t *testing.T) string {
	t.Helper()
	require.NotNil(t, a.stdinR, "the agent is interactive")
	require.NoError(t, a.stdinR.SetReadDeadline(time.Now().Add(10*time.Second)))
	var line []byte
	buf := make([]byte, 1)
	for {
		_, err := a.stdinR.Read(buf)
		require.NoError(t, err)
		if buf[0] == '\n' {
			return string(line)
		}
		line = append(line, buf[0])
	}
}

type executables struct{ missing map[string]bool }

func (e *executables) LookPath(file string) (string, error) {
	if e.missing[file] {
		return "", fmt.Errorf("exec: %q: executable file not found in $PATH", file)
	}
	return "/usr/bin/" + file, nil
}

// shell is the prelude's shell: it answers output and code.
type shell struct {
	mu      sync.Mutex
	output  string
	code    int
	scripts []string
	dirs    []string
}

func (s *shell) Run(_ context.Context, script, dir string, _ []string) (string, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts = append(s.scripts, script)
	s.dirs = append(s.dirs, dir)
	return s.output, s.code, nil
}

// dirs hands out private directories by name; nothing is on disk.
type dirs struct {
	mu      sync.Mutex
	created []string
	written map[string][]launch.File
	removed []string
}

func (d *dirs) Create() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	dir := fmt.Sprintf("/private/%d", len(d.created)+1)
	d.created = append(d.created, dir)
	return dir, nil
}

func (d *dirs) Write(dir string, files []launch.File) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.written == nil {
		d.written = map[string][]launch.File{}
	}
	d.written[dir] = append(d.written[dir], files...)
	return nil
}

func (d *dirs) Remove(dir string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.removed = append(d.removed, dir)
}

func (d *dirs) state() (created, removed []string, written map[string][]launch.File) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.created), slices.Clone(d.removed), d.written
}

type guard struct {
	mu    sync.Mutex
	reply rpc.GuardCheckReply
	err   error
	asked []rpc.GuardCheckRequest
}

func (g *guard) Check(_ context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, req)
	return g.reply, g.err
}

// sockets serve nothing; they record what was served and closed.
type sockets struct {
	mu     sync.Mutex
	served []string
	closed int
}

type socket struct {
	s   *sockets
	env string
}

func (s *sockets) Serve(dir, runID string, attempt int) (GuardSocket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.served = append(s.served, fmt.Sprintf("%s %s/%d", dir, runID, attempt))
	return socket{s: s, env: "PHANTOM_GUARD_SOCKET=" + dir + "/guard.sock"}, nil
}

func (s socket) Env() string { return s.env }
func (s socket) Close() error {
	s.s.mu.Lock()
	defer s.s.mu.Unlock()
	s.s.closed++
	return nil
}

func (s *sockets) state() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.served), s.closed
}

var errTransient = errors.New("fork/exec: resource temporarily unavailable")

// testRedactor is pkg/redact behind the use cases' port, as the service wires it.
type testRedactor struct{ *redact.Redactor }

func (r testRedactor) Stream() chunk.Filter { return r.NewStream(0) }
