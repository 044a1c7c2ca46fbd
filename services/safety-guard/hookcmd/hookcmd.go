// Package hookcmd is `phantom guard hook`: the pre-tool hook that coding
// agents (Claude Code's PreToolUse, Codex's, Gemini CLI's BeforeTool,
// Copilot CLI's preToolUse) run before each shell command. It reads the
// agent's hook JSON on stdin, asks the safety guard, and answers in the
// agent's format: a denial with the reason, or nothing (allow).
//
// Any binary becomes the hook by calling MainIfRequested first thing in
// main: invoked as `<binary> guard hook [--agent A] [--mode M]`, it answers
// and exits. The phantom command and the runner do, so the runner can put
// `'<its own executable>' guard hook` into an agent's settings.
//
// Where the hook asks, in order:
//
//  1. PHANTOM_GUARD_SOCKET: the runner's relay for the run (a unix socket;
//     one JSON line in, rpc.GuardCheckRequest, one line out,
//     rpc.GuardCheckReply). The runner stamps the run and relays to
//     phantom.rpc.guard.check; the agent never holds NATS credentials.
//  2. PHANTOM_NATS_URL (with PHANTOM_NATS_CREDS / _TLS_*): the service
//     directly, for a user wiring the hook into their own agent.
//  3. Nobody: the same engine judges in this process.
//
// When the service cannot be reached the engine judges in this process, with
// the user's and the project's rule files; in strict mode (--mode, else
// PHANTOM_GUARD_MODE) the command is denied instead.
package hookcmd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/safety-guard/judge"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
	"github.com/phantom-run/phantom/services/safety-guard/policy/hook"
)

// Environment variables the hook reads.
const (
	// EnvSocket is the runner's relay socket for the run.
	EnvSocket = "PHANTOM_GUARD_SOCKET"
	// EnvMode is the mode of local judgement (and of unreadable input).
	EnvMode = "PHANTOM_GUARD_MODE"
	// EnvTimeout bounds the wait for the service's answer.
	EnvTimeout = "PHANTOM_GUARD_HOOK_TIMEOUT"
	// EnvNATSURL reaches the service directly when there is no socket.
	EnvNATSURL = "PHANTOM_NATS_URL"
)

// DefaultTimeout bounds the wait for the service's answer; past it the hook
// judges locally. A decision takes about a millisecond.
const DefaultTimeout = 5 * time.Second

// maxInput bounds the hook payload read from stdin.
const maxInput = 8 << 20

// MainIfRequested answers `<binary> guard hook ...` and exits the process;
// for any other command line it returns at once.
func MainIfRequested() {
	if len(os.Args) < 3 || os.Args[1] != "guard" || os.Args[2] != "hook" {
		return
	}
	os.Exit(Run(context.Background(), os.Args[3:], IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()}))
}

// IO is what one hook invocation reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Environ is the hook's environment, as os.Environ returns it.
	Environ []string
}

func (o IO) getenv(name string) string {
	for i := len(o.Environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(o.Environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// Usage describes the hook for --help.
var Usage = `usage: phantom guard hook [--agent auto|claude-code|codex|gemini-cli|copilot-cli] [--mode MODE]

Answers an agent's pre-tool hook: reads the hook JSON on stdin, asks the
Phantom safety guard about the shell command in it and prints the agent's
denial format with the reason, or nothing to allow. Always exits 0 (2 on bad
flags). Claude Code: --settings '{"hooks":{"PreToolUse":[{"matcher":"Bash",
"hooks":[{"type":"command","command":"phantom guard hook"}]}]}}'

It asks the runner's relay ($PHANTOM_GUARD_SOCKET) inside a Phantom run,
else the safety-guard service at $PHANTOM_NATS_URL, else judges locally; it
judges locally, with ~/.cc-safety-net/config.json and the project's
.safety-net.json, whenever the service cannot be reached, and denies instead
in strict mode. $PHANTOM_GUARD_HOOK_TIMEOUT bounds the wait (default ` + DefaultTimeout.String() + `).
`

// Run answers one hook invocation and returns the exit code.
func Run(ctx context.Context, args []string, o IO) int {
	fs := flag.NewFlagSet("phantom guard hook", flag.ContinueOnError)
	fs.SetOutput(o.Stderr)
	fs.Usage = func() { fmt.Fprint(o.Stderr, Usage) }
	agentFlag := fs.String("agent", "auto", "the agent's hook protocol")
	modeFlag := fs.String("mode", "", "policy mode of every check (default: the configured policy)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(o.Stderr, "phantom guard hook: unexpected argument %q\n%s", fs.Arg(0), Usage)
		return 2
	}
	agent, err := hook.ParseAgent(*agentFlag)
	if err != nil {
		fmt.Fprintf(o.Stderr, "phantom guard hook: --agent: %v\n", err)
		return 2
	}
	localMode := *modeFlag
	if localMode == "" {
		localMode = o.getenv(EnvMode)
	}
	mode := guard.ModeDefault
	if localMode != "" {
		if mode, err = guard.ParseMode(localMode); err != nil {
			fmt.Fprintf(o.Stderr, "phantom guard hook: --mode: %v\n", err)
			return 2
		}
	}
	timeout := DefaultTimeout
	if v := o.getenv(EnvTimeout); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			timeout = d
		}
	}
	stdin, err := io.ReadAll(io.LimitReader(o.Stdin, maxInput))
	if err != nil {
		stdin = nil
	}
	h := &hookRun{ctx: ctx, io: o, requestMode: *modeFlag, localMode: mode, timeout: timeout}
	out, code := hook.HandleCall(stdin, h.judge, hook.WithAgent(agent), hook.WithMode(mode))
	if _, err := o.Stdout.Write(out); err != nil {
		return 1
	}
	return code
}

type hookRun struct {
	ctx context.Context
	io  IO
	// requestMode is the mode sent to the service: only an explicit --mode,
	// so the configured policies decide otherwise.
	requestMode string
	localMode   guard.Mode
	timeout     time.Duration
}

// judge is hook.Handle's judge: it asks the service, or judges locally.
func (h *hookRun) judge(call hook.Call) policy.Decision {
	cwd := call.Cwd
	if cwd == "" {
		cwd, _ = os.Getwd()
	}
	env := guardclient.CommandEnv(h.io.Environ)
	req := rpc.GuardCheckRequest{
		Command: call.Command, Cwd: cwd, Mode: h.requestMode, Origin: rpc.GuardOriginHook,
		Agent: string(call.Agent), Shell: string(call.Shell), Env: env,
	}
	files, err := guardclient.ReadRuleFiles(cwd, env["HOME"])
	if err != nil {
		return policy.Decision{Decision: guard.Block, Rule: guard.RuleInvalidPolicy, Segment: call.Command,
			Reason: "The safety guard cannot read a rule file that applies here (" + err.Error() + "); every command is blocked until it can."}
	}
	req.RuleFiles = files
	ctx, cancel := context.WithTimeout(h.ctx, h.timeout)
	defer cancel()
	reply, err := h.ask(ctx, req)
	if err == nil {
		return policy.Decision{Decision: reply.Decision, Rule: reply.Rule, Segment: reply.Segment, Reason: reply.Reason}
	}
	if !errors.Is(err, errNoService) {
		fmt.Fprintf(h.io.Stderr, "phantom guard hook: judging locally: %v\n", err)
	}
	if req.Mode == "" && h.localMode != guard.ModeDefault {
		req.Mode = h.localMode.String()
	}
	res := judge.Locally(h.ctx, policy.New(), req, err)
	return policy.Decision{Decision: res.Decision, Rule: res.Rule, Segment: res.Segment, Reason: res.Reason}
}

// errNoService: neither a relay nor NATS is configured.
var errNoService = errors.New("no safety-guard service configured (PHANTOM_GUARD_SOCKET, PHANTOM_NATS_URL)")

func (h *hookRun) ask(ctx context.Context, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	if socket := h.io.getenv(EnvSocket); socket != "" {
		return askSocket(ctx, socket, req)
	}
	if url := h.io.getenv(EnvNATSURL); url != "" {
		return h.askNATS(ctx, url, req)
	}
	return rpc.GuardCheckReply{}, errNoService
}

// askSocket speaks the runner's relay protocol: one JSON line each way.
func askSocket(ctx context.Context, path string, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not reach the runner's guard relay at %s: %w", path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	line, err := json.Marshal(req)
	if err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not encode the guard request: %w", err)
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not write to the runner's guard relay: %w", err)
	}
	answer, err := bufio.NewReaderSize(conn, 64<<10).ReadBytes('\n')
	if err != nil && !(errors.Is(err, io.EOF) && len(bytes.TrimSpace(answer)) > 0) {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not read the runner's guard relay: %w", err)
	}
	var reply rpc.GuardCheckReply
	if err := json.Unmarshal(answer, &reply); err != nil {
		return rpc.GuardCheckReply{}, fmt.Errorf("could not decode the runner's guard relay answer: %w", err)
	}
	return checked(reply)
}

// checked accepts a reply that carries a decision; a reply with only an
// error means the relay could not reach the service.
func checked(reply rpc.GuardCheckReply) (rpc.GuardCheckReply, error) {
	if reply.Decision == guard.Allow || reply.Decision == guard.Block {
		return reply, nil
	}
	if reply.Error != "" {
		return reply, fmt.Errorf("the runner could not ask the safety guard: %s", reply.Error)
	}
	return reply, fmt.Errorf("the safety guard answered decision %q", reply.Decision)
}

func (h *hookRun) askNATS(ctx context.Context, url string, req rpc.GuardCheckRequest) (rpc.GuardCheckReply, error) {
	connectTimeout := time.Second
	if dl, ok := ctx.Deadline(); ok {
		connectTimeout = min(connectTimeout, time.Until(dl))
	}
	nc, _, err := bus.Connect(ctx, bus.Config{
		URL: url, CredsFile: h.io.getenv("PHANTOM_NATS_CREDS"), TLSCA: h.io.getenv("PHANTOM_NATS_TLS_CA"),
		TLSCert: h.io.getenv("PHANTOM_NATS_TLS_CERT"), TLSKey: h.io.getenv("PHANTOM_NATS_TLS_KEY"),
		ConnectTimeout: connectTimeout,
	}, "phantom-guard-hook", slog.New(slog.DiscardHandler))
	if err != nil {
		return rpc.GuardCheckReply{}, err
	}
	defer nc.Close()
	return guardclient.New(nc, guardclient.WithTimeout(h.timeout)).Check(ctx, req)
}
