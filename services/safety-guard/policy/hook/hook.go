// Package hook speaks the pre-tool hook protocols of coding-agent CLIs for the
// safety guard: it reads the JSON an agent writes to its hook's stdin, asks a
// judge about the shell command in it, and renders the answer that agent
// expects on stdout.
//
// Supported payloads:
//
//   - Claude Code (and Codex, which uses the same shape): {"hook_event_name":
//     "PreToolUse", "tool_name": "Bash", "tool_input": {"command": ...},
//     "cwd": ...}. "PowerShell" tool calls are judged as PowerShell. A block
//     is answered with {"hookSpecificOutput": {"hookEventName": "PreToolUse",
//     "permissionDecision": "deny", "permissionDecisionReason": ...}}.
//   - Gemini CLI: {"hook_event_name": "BeforeTool", "tool_name":
//     "run_shell_command", "tool_input": {"command": ...}}, answered with
//     {"decision": "deny", "reason": ..., "systemMessage": ...}.
//   - GitHub Copilot CLI: {"toolName": "bash", "toolArgs": "{\"command\":...}",
//     "cwd": ...}, answered with {"permissionDecision": "deny",
//     "permissionDecisionReason": ...}.
//
// An allowed call, another tool, another event, a payload without a command,
// or empty input produce no output. Input that is not JSON is allowed too,
// except in strict mode, where it is denied: a guard that cannot read its
// input must not fail open when the user asked for fail-closed behaviour.
// Every answer exits 0; agents treat other exit codes as hook failures.
//
// The block message keeps upstream claude-code-safety-net's wording so that
// prompts and tools that recognise it keep working.
package hook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// Agent names the CLI whose protocol is spoken.
type Agent string

const (
	// AgentAuto detects the protocol from the payload; unreadable input is
	// answered in Claude Code's format.
	AgentAuto Agent = ""
	// AgentClaudeCode is Claude Code's PreToolUse hook.
	AgentClaudeCode Agent = "claude-code"
	// AgentCodex is Codex's PreToolUse hook, shaped like Claude Code's.
	AgentCodex Agent = "codex"
	// AgentGeminiCLI is Gemini CLI's BeforeTool hook.
	AgentGeminiCLI Agent = "gemini-cli"
	// AgentCopilotCLI is GitHub Copilot CLI's preToolUse hook.
	AgentCopilotCLI Agent = "copilot-cli"
)

// agents is the immutable vocabulary of ParseAgent.
var agents = []Agent{AgentClaudeCode, AgentCodex, AgentGeminiCLI, AgentCopilotCLI}

// ParseAgent reads an agent name: "auto" (or ""), "claude-code", "codex",
// "gemini-cli" or "copilot-cli".
func ParseAgent(s string) (Agent, error) {
	name := strings.ToLower(strings.TrimSpace(s))
	if name == "" || name == "auto" {
		return AgentAuto, nil
	}
	for _, a := range agents {
		if name == string(a) {
			return a, nil
		}
	}
	return "", fmt.Errorf("could not parse agent %q: allowed values are \"auto\", \"claude-code\", \"codex\", \"gemini-cli\" and \"copilot-cli\"", s)
}

// Judge decides on one request; the caller chooses whether it runs the
// policy engine in process or asks the safety-guard service.
type Judge func(policy.Request) policy.Decision

// Option configures Handle.
type Option func(*config)

type config struct {
	agent Agent
	mode  guard.Mode
}

// WithAgent fixes the protocol instead of detecting it.
func WithAgent(a Agent) Option { return func(c *config) { c.agent = a } }

// WithMode sets the mode put into each request; with guard.ModeStrict,
// unreadable hook input is denied rather than allowed.
func WithMode(m guard.Mode) Option { return func(c *config) { c.mode = m } }

// Call is the shell command a hook payload asks about.
type Call struct {
	// Agent is the protocol the payload was read as.
	Agent Agent
	// Tool is the agent's tool name ("Bash", "run_shell_command", "bash").
	Tool string
	// Command is the command line to judge.
	Command string
	// Cwd is the working directory the agent reports, "" when absent.
	Cwd string
	// Shell is the language of Command.
	Shell policy.Shell
	// SessionID identifies the agent session when the payload carries one.
	SessionID string
}

// ParseError is unreadable hook input; its message is the reason a strict
// guard gives when it denies.
type ParseError struct {
	Message string
}

func (e *ParseError) Error() string { return e.Message }

// Parse reads a hook payload. It returns ok=false when there is nothing to
// judge (empty input, another event or tool, no command), and a *ParseError
// when the input cannot be read.
func Parse(stdin []byte, agent Agent) (call Call, ok bool, err error) {
	text := bytes.TrimSpace(stdin)
	if len(text) == 0 {
		return Call{}, false, nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(text, &raw); err != nil {
		return Call{}, false, &ParseError{Message: "Failed to parse hook input JSON"}
	}
	if agent == AgentAuto {
		agent = detect(raw)
	}
	call = Call{Agent: agent, Cwd: jsonString(raw["cwd"]), SessionID: jsonString(raw["session_id"])}
	switch agent {
	case AgentCopilotCLI:
		return parseCopilot(raw, call)
	case AgentGeminiCLI:
		if jsonString(raw["hook_event_name"]) != "BeforeTool" {
			return call, false, nil
		}
		call.Tool = jsonString(raw["tool_name"])
		if call.Tool != "run_shell_command" {
			return call, false, nil
		}
		call.Command, call.Shell = commandField(raw["tool_input"]), policy.ShellBash
	default:
		if ev := jsonString(raw["hook_event_name"]); ev != "" && ev != "PreToolUse" {
			return call, false, nil
		}
		call.Tool = jsonString(raw["tool_name"])
		shell, known := claudeTools[call.Tool]
		if !known {
			return call, false, nil
		}
		call.Command, call.Shell = commandField(raw["tool_input"]), shell
	}
	return call, call.Command != "", nil
}

// claudeTools are the Claude-shaped tool names that run commands (Codex uses
// its own names for the same tools).
var claudeTools = map[string]policy.Shell{
	"Bash":         policy.ShellBash,
	"PowerShell":   policy.ShellPowerShell,
	"shell":        policy.ShellBash,
	"local_shell":  policy.ShellBash,
	"exec_command": policy.ShellBash,
}

func detect(raw map[string]json.RawMessage) Agent {
	if _, ok := raw["toolName"]; ok {
		return AgentCopilotCLI
	}
	if jsonString(raw["hook_event_name"]) == "BeforeTool" {
		return AgentGeminiCLI
	}
	return AgentClaudeCode
}

func parseCopilot(raw map[string]json.RawMessage, call Call) (Call, bool, error) {
	call.Tool = jsonString(raw["toolName"])
	switch call.Tool {
	case "bash":
		call.Shell = policy.ShellBash
	case "powershell":
		call.Shell = policy.ShellPowerShell
	default:
		return call, false, nil
	}
	args := raw["toolArgs"]
	// toolArgs is a JSON document inside a string; newer versions may send
	// the object itself.
	if s, isString := stringValue(args); isString {
		args = json.RawMessage(s)
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(args, &probe); err != nil {
			return call, false, &ParseError{Message: "Failed to parse toolArgs JSON"}
		}
	}
	call.Command = commandField(args)
	return call, call.Command != "", nil
}

// commandField reads "command" from a tool input object: a string, or an
// argv array that is quoted back into a command line.
func commandField(input json.RawMessage) string {
	var obj map[string]json.RawMessage
	if len(input) == 0 || json.Unmarshal(input, &obj) != nil {
		return ""
	}
	c := obj["command"]
	if s, ok := stringValue(c); ok {
		return s
	}
	var argv []string
	if json.Unmarshal(c, &argv) == nil && len(argv) > 0 {
		return guardclient.ShellJoin(argv...)
	}
	return ""
}

func stringValue(m json.RawMessage) (string, bool) {
	var s string
	if len(m) == 0 || m[0] != '"' || json.Unmarshal(m, &s) != nil {
		return "", false
	}
	return s, true
}

func jsonString(m json.RawMessage) string {
	s, _ := stringValue(m)
	return s
}

// Handle answers one hook invocation: stdin is what the agent wrote, stdout
// and the exit code are what the hook process must produce.
func Handle(stdin []byte, judge Judge, opts ...Option) (stdout []byte, exitCode int) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return HandleCall(stdin, func(call Call) policy.Decision {
		return judge(policy.Request{Command: call.Command, Cwd: call.Cwd, Mode: cfg.mode, Shell: call.Shell})
	}, opts...)
}

// HandleCall is Handle for a judge that wants the whole call (the agent,
// the tool, the session), such as one that asks the safety-guard service.
func HandleCall(stdin []byte, judge func(Call) policy.Decision, opts ...Option) (stdout []byte, exitCode int) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	call, ok, err := Parse(stdin, cfg.agent)
	if err != nil {
		if cfg.mode.Has(guard.ModeStrict) {
			agent := call.Agent
			if agent == AgentAuto {
				agent = cfg.agent
			}
			return Deny(agent, FormatMessage(err.Error()+" (strict mode)", "", "")), 0
		}
		return nil, 0
	}
	if !ok {
		return nil, 0
	}
	d := judge(call)
	if !d.Blocked() {
		return nil, 0
	}
	return Deny(call.Agent, FormatMessage(d.Reason, call.Command, d.Segment)), 0
}

// Deny renders a denial with message in agent's format, newline-terminated.
func Deny(agent Agent, message string) []byte {
	var v any
	switch agent {
	case AgentGeminiCLI:
		v = geminiOutput{Decision: "deny", Reason: message, SystemMessage: message}
	case AgentCopilotCLI:
		v = copilotOutput{PermissionDecision: "deny", PermissionDecisionReason: message}
	default:
		v = claudeOutput{HookSpecificOutput: claudeDecision{HookEventName: "PreToolUse", PermissionDecision: "deny", PermissionDecisionReason: message}}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	// Agents show the message to people; keep <, > and & readable.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// The values are plain strings; encoding cannot fail.
		panic(fmt.Sprintf("could not encode hook output: %v", err))
	}
	return buf.Bytes()
}

type claudeOutput struct {
	HookSpecificOutput claudeDecision `json:"hookSpecificOutput"`
}

type claudeDecision struct {
	HookEventName            string `json:"hookEventName"`
	PermissionDecision       string `json:"permissionDecision"`
	PermissionDecisionReason string `json:"permissionDecisionReason"`
}

type geminiOutput struct {
	Decision      string `json:"decision"`
	Reason        string `json:"reason"`
	SystemMessage string `json:"systemMessage"`
}

type copilotOutput struct {
	PermissionDecision       string `json:"permissionDecision"`
	PermissionDecisionReason string `json:"permissionDecisionReason"`
}

// maxExcerpt bounds the command and segment quoted back to the agent.
const maxExcerpt = 200

// FormatMessage builds the block message: the reason, the command and the
// segment that triggered the rule (when it differs), with secrets redacted.
func FormatMessage(reason, command, segment string) string {
	var b strings.Builder
	b.WriteString("BLOCKED by Safety Net\n\nReason: ")
	b.WriteString(reason)
	if command != "" {
		b.WriteString("\n\nCommand: ")
		b.WriteString(excerpt(Redact(command)))
	}
	if segment != "" && segment != command {
		b.WriteString("\n\nSegment: ")
		b.WriteString(excerpt(Redact(segment)))
	}
	b.WriteString("\n\nIf this operation is truly needed, ask the user for explicit permission and have them run the command manually.")
	return b.String()
}

func excerpt(s string) string {
	if len(s) <= maxExcerpt {
		return s
	}
	cut := maxExcerpt
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "..."
}

var redactions = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?i)\b([A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD|PASS|KEY|CREDENTIALS)[A-Z0-9_]*)=([^\s]+)`), "${1}=<redacted>"},
	{regexp.MustCompile(`(?i)(['"]?\s*authorization\s*:\s*)([^'"]+)(['"]?)`), "${1}<redacted>${3}"},
	{regexp.MustCompile(`(?i)(https?://)([^\s/:@]+):([^\s@]+)@`), "${1}<redacted>:<redacted>@"},
	{regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{20,}\b`), "<redacted>"},
}

// Redact hides credentials a command may carry (KEY=value assignments,
// authorization headers, URL passwords, GitHub tokens) before the command is
// echoed into an agent's transcript.
func Redact(s string) string {
	for _, r := range redactions {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return s
}
