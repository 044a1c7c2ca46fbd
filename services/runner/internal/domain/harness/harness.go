// Package harness maps a run's harness options ("Harness Hardening"),
// interactivity and resume onto the flags of the chosen CLI, per adapter and
// version. An option the CLI or its version cannot honour is dropped with a
// warning naming it (the runner publishes run.compatibility_warning), never
// silently. Options the runner itself enforces (harness timeout, output
// schema, shell prelude, environment) are honoured for every CLI.
package harness

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Masterminds/semver/v3"

	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// Option names, as in the run request's harness block.
const (
	OptAllowedTools       = "allowedTools"
	OptDisallowedTools    = "disallowedTools"
	OptPermissionMode     = "permissionMode"
	OptAutoApprove        = "autoApprove"
	OptSandbox            = "sandbox"
	OptMaxTurns           = "maxTurns"
	OptTimeoutMs          = "timeoutMs"
	OptMaxToolResultLines = "maxToolResultLines"
	OptMCPConfig          = "mcpConfig"
	OptOutputSchema       = "outputSchema"
	OptShellPrelude       = "shellPrelude"
	OptCLIAllowlist       = "cliAllowlist"
	OptEnv                = "env"
	OptAppendSystemPrompt = "appendSystemPrompt"
	OptResumeSessionID    = "resumeSessionId"
	OptContinue           = "continue"
	OptForkSession        = "forkSession"
	// OptInteractive is the run's interactive flag (not in the block, but honoured per CLI the same way).
	OptInteractive = "interactive"
)

// runnerEnforced are honoured by the runner for every CLI.
var runnerEnforced = []string{OptTimeoutMs, OptOutputSchema, OptShellPrelude, OptEnv}

// honoured are the options each adapter maps onto its CLI.
var honoured = map[string][]string{
	"claude": {OptAllowedTools, OptDisallowedTools, OptPermissionMode, OptAutoApprove, OptMaxTurns, OptMCPConfig, OptCLIAllowlist,
		OptAppendSystemPrompt, OptResumeSessionID, OptContinue, OptForkSession, OptInteractive},
	"codex":  {OptAutoApprove, OptSandbox, OptResumeSessionID, OptContinue},
	"gemini": {OptAllowedTools, OptPermissionMode, OptAutoApprove, OptResumeSessionID, OptContinue},
	"fake":   {OptResumeSessionID, OptInteractive},
	"raw":    {},
}

// minVersions are the first versions of a CLI that have an option; older
// ones drop it.
var minVersions = map[string]map[string]string{
	"claude": {OptForkSession: "1.0.0", OptInteractive: "1.0.0", OptAppendSystemPrompt: "1.0.0", OptMCPConfig: "1.0.0"},
	"codex":  {OptResumeSessionID: "0.30.0", OptContinue: "0.30.0"},
	"gemini": {OptResumeSessionID: "0.20.0", OptContinue: "0.20.0", OptPermissionMode: "0.20.0"},
}

// Options lists the options an adapter honours at a version, sorted.
func Options(adapter, version string) []string {
	var out []string
	for _, o := range append(slices.Clone(honoured[adapter]), runnerEnforced...) {
		if ok, _ := versionHas(adapter, version, o); ok {
			out = append(out, o)
		}
	}
	if adapter == "raw" {
		out = slices.DeleteFunc(out, func(o string) bool { return o == OptOutputSchema })
	}
	slices.Sort(out)
	return out
}

// versionHas reports whether a version of the CLI has an option.
func versionHas(adapter, version, option string) (bool, string) {
	minV, ok := minVersions[adapter][option]
	if !ok || version == "" {
		return true, ""
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return true, ""
	}
	if v.LessThan(semver.MustParse(minV)) {
		return false, minV
	}
	return true, ""
}

// Facts are what the runner knows when it composes the launch.
type Facts struct {
	Adapter string
	// Version is the CLI's detected version ("" when unknown).
	Version string
	// Root: the runner runs as root (Claude Code then needs IS_SANDBOX=1 to bypass permissions).
	Root bool
	// Prompt is the run's prompt (an interactive Claude run sends it on stdin instead).
	Prompt string
}

// Apply adds the harness options h, interactivity and the resume of a
// provider session (resume, from h or from the event log for a retry) to
// the plan.
func Apply(f Facts, h runs.Harness, interactive bool, resume string, p *launch.Plan) error {
	a := applier{f: f, h: h, p: p}
	if resume == "" {
		resume = h.ResumeSessionID
	}
	// Options every CLI gets from the runner.
	if h.TimeoutMs != nil {
		p.Timeout = time.Duration(*h.TimeoutMs) * time.Millisecond
	}
	if len(h.OutputSchema) > 0 {
		if f.Adapter == "raw" {
			p.Warn(OptOutputSchema, "agent adapter raw prints no final result to validate")
		} else {
			p.OutputSchema = h.OutputSchema
		}
	}
	p.Prelude = h.ShellPrelude
	for _, k := range sortedKeys(h.Env) {
		if !validEnvName(k) || strings.HasPrefix(k, "PHANTOM_") {
			p.Warn(OptEnv, "variable %q was not set: names must be [A-Za-z_][A-Za-z0-9_]* and not start with PHANTOM_", k)
			continue
		}
		p.Env = append(p.Env, k+"="+h.Env[k])
	}
	if h.MaxToolResultLines != nil {
		p.Warn(OptMaxToolResultLines, "%s has no setting that truncates tool results by lines", cliName(f.Adapter))
	}
	switch f.Adapter {
	case "claude":
		return a.claude(interactive, resume)
	case "codex":
		return a.codex(interactive, resume)
	case "gemini":
		return a.gemini(interactive, resume)
	case "fake":
		return a.fake(interactive, resume)
	}
	a.dropAll(interactive, resume, nil)
	return nil
}

func cliName(adapter string) string {
	switch adapter {
	case "claude":
		return "Claude Code"
	case "codex":
		return "Codex"
	case "gemini":
		return "Gemini CLI"
	case "fake":
		return "the fake agent"
	}
	return "this agent (adapter raw)"
}

type applier struct {
	f Facts
	h runs.Harness
	p *launch.Plan
}

// has reports whether the CLI honours an option at its version; when it
// does not and the option is set, it warns.
func (a applier) has(option string, set bool) bool {
	if !set {
		return false
	}
	if !slices.Contains(honoured[a.f.Adapter], option) {
		a.p.Warn(option, "%s has no equivalent option", cliName(a.f.Adapter))
		return false
	}
	if ok, minV := versionHas(a.f.Adapter, a.f.Version, option); !ok {
		a.p.Warn(option, "%s %s does not have it (it needs %s or later)", cliName(a.f.Adapter), a.f.Version, minV)
		return false
	}
	return true
}

// dropAll warns for every set option that no mapping consumed.
func (a applier) dropAll(interactive bool, resume string, except []string) {
	h := a.h
	for _, o := range []struct {
		name string
		set  bool
	}{
		{OptAllowedTools, len(h.AllowedTools) > 0}, {OptDisallowedTools, len(h.DisallowedTools) > 0},
		{OptPermissionMode, h.PermissionMode != ""}, {OptAutoApprove, h.AutoApprove != nil && *h.AutoApprove},
		{OptSandbox, h.Sandbox != ""}, {OptMaxTurns, h.MaxTurns != nil}, {OptMCPConfig, len(h.MCPConfig) > 0},
		{OptCLIAllowlist, len(h.CLIAllowlist) > 0}, {OptAppendSystemPrompt, h.AppendSystemPrompt != ""},
		{OptResumeSessionID, resume != ""}, {OptContinue, h.Continue}, {OptForkSession, h.ForkSession},
		{OptInteractive, interactive},
	} {
		if o.set && !slices.Contains(except, o.name) {
			a.has(o.name, true)
		}
	}
}

var claudeModes = []string{"acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"}

func (a applier) claude(interactive bool, resume string) error {
	h, p := a.h, a.p
	allowed := slices.Clone(h.AllowedTools)
	if a.has(OptCLIAllowlist, len(h.CLIAllowlist) > 0) {
		// Each executable becomes a Bash permission rule; in print mode any
		// other command is refused (there is nobody to ask).
		for _, c := range h.CLIAllowlist {
			allowed = append(allowed, "Bash("+c+":*)")
		}
	}
	if len(allowed) > 0 {
		p.Args = append(p.Args, "--allowedTools", strings.Join(allowed, ","))
	}
	if a.has(OptDisallowedTools, len(h.DisallowedTools) > 0) {
		p.Args = append(p.Args, "--disallowedTools", strings.Join(h.DisallowedTools, ","))
	}
	mode := ""
	if a.has(OptPermissionMode, h.PermissionMode != "") {
		if slices.Contains(claudeModes, h.PermissionMode) {
			mode = h.PermissionMode
		} else {
			p.Warn(OptPermissionMode, "Claude Code has no permission mode %q (it has %s)", h.PermissionMode, strings.Join(claudeModes, ", "))
		}
	}
	if a.has(OptAutoApprove, h.AutoApprove != nil && *h.AutoApprove) && mode == "" {
		mode = "bypassPermissions"
	}
	if mode != "" {
		p.Args = append(p.Args, "--permission-mode", mode)
		if mode == "bypassPermissions" && a.f.Root {
			// As root, Claude Code refuses to bypass permissions unless told it is sandboxed.
			p.Env = append(p.Env, "IS_SANDBOX=1")
		}
	}
	if h.Sandbox != "" {
		p.Warn(OptSandbox, "Claude Code has no sandbox setting; use permissionMode and the safety guard")
	}
	if a.has(OptMaxTurns, h.MaxTurns != nil) {
		p.Args = append(p.Args, "--max-turns", strconv.Itoa(*h.MaxTurns))
	}
	if a.has(OptMCPConfig, len(h.MCPConfig) > 0) {
		path, err := p.AddFile("mcp.json", h.MCPConfig)
		if err != nil {
			return err
		}
		p.Args = append(p.Args, "--mcp-config", path)
	}
	if a.has(OptAppendSystemPrompt, h.AppendSystemPrompt != "") {
		p.Args = append(p.Args, "--append-system-prompt", h.AppendSystemPrompt)
	}
	switch {
	case a.has(OptResumeSessionID, resume != ""):
		p.Args = append(p.Args, "--resume", resume)
		p.ResumeSessionID = resume
	case a.has(OptContinue, h.Continue):
		p.Args = append(p.Args, "--continue")
	}
	if a.has(OptForkSession, h.ForkSession) {
		if p.ResumeSessionID == "" && !h.Continue {
			p.Warn(OptForkSession, "forkSession needs resumeSessionId or continue")
		} else {
			p.Args = append(p.Args, "--fork-session")
		}
	}
	if a.has(OptInteractive, interactive) {
		// The prompt becomes the first turn on stdin; the agent reads turns until stdin closes.
		if a.f.Prompt != "" {
			p.RemoveArg(a.f.Prompt)
		}
		// --replay-user-messages echoes each turn back on stdout, so the
		// messages read model has the user's side of the session too.
		p.Args = append(p.Args, "--input-format", "stream-json", "--replay-user-messages")
		p.Interactive = true
		if a.f.Prompt != "" {
			p.Input = ClaudeTurn(a.f.Prompt)
		}
	}
	return nil
}

// ClaudeTurn is one user turn in Claude Code's stream-json input format.
func ClaudeTurn(text string) []byte {
	b, _ := json.Marshal(map[string]any{"type": "user", "message": map[string]any{"role": "user", "content": text}})
	return append(b, '\n')
}

// FinalizeClaude passes the merged settings document with --settings.
func FinalizeClaude(p *launch.Plan) error {
	if len(p.Settings) == 0 {
		return nil
	}
	doc, err := json.Marshal(p.Settings)
	if err != nil {
		return fmt.Errorf("could not encode Claude Code's settings: %w", err)
	}
	p.Args = append(p.Args, "--settings", string(doc))
	return nil
}

var codexSandboxes = map[string]string{runs.SandboxReadOnly: "read-only", runs.SandboxWorkspaceWrite: "workspace-write", runs.SandboxFullAccess: "danger-full-access"}

func (a applier) codex(interactive bool, resume string) error {
	h, p := a.h, a.p
	if a.has(OptSandbox, h.Sandbox != "") {
		if s, ok := codexSandboxes[h.Sandbox]; ok {
			p.Args = insertBeforePrompt(p.Args, a.f.Prompt, "--sandbox", s)
		} else {
			p.Warn(OptSandbox, "Codex has no sandbox %q (read-only, workspace-write, full-access)", h.Sandbox)
		}
	}
	if a.has(OptAutoApprove, h.AutoApprove != nil && *h.AutoApprove) {
		p.Args = insertBeforePrompt(p.Args, a.f.Prompt, "-c", `approval_policy="never"`)
	}
	// codex exec [flags] resume <id> <prompt>: the prompt moves after the session.
	switch {
	case a.has(OptResumeSessionID, resume != ""):
		p.RemoveArg(a.f.Prompt)
		p.Args = append(p.Args, "resume", resume, a.f.Prompt)
		p.ResumeSessionID = resume
	case a.has(OptContinue, h.Continue):
		p.RemoveArg(a.f.Prompt)
		p.Args = append(p.Args, "resume", "--last", a.f.Prompt)
	}
	a.dropAll(interactive, "", []string{OptSandbox, OptAutoApprove, OptResumeSessionID, OptContinue})
	return nil
}

// insertBeforePrompt puts flags before the prompt argument (after it, they
// would follow a positional argument some CLIs stop parsing at).
func insertBeforePrompt(args []string, prompt string, flags ...string) []string {
	i := slices.Index(args, prompt)
	if i < 0 {
		return append(args, flags...)
	}
	return slices.Insert(args, i, flags...)
}

var geminiModes = map[string]string{"default": "default", "acceptEdits": "auto_edit", "bypassPermissions": "yolo", "plan": "plan"}

func (a applier) gemini(interactive bool, resume string) error {
	h, p := a.h, a.p
	if a.has(OptAllowedTools, len(h.AllowedTools) > 0) {
		p.Args = append(p.Args, "--allowed-tools", strings.Join(h.AllowedTools, ","))
	}
	mode := ""
	if a.has(OptPermissionMode, h.PermissionMode != "") {
		if m, ok := geminiModes[h.PermissionMode]; ok {
			mode = m
		} else {
			p.Warn(OptPermissionMode, "Gemini CLI has no approval mode for %q (default, acceptEdits, bypassPermissions, plan)", h.PermissionMode)
		}
	}
	if a.has(OptAutoApprove, h.AutoApprove != nil && *h.AutoApprove) && mode == "" {
		mode = "yolo"
	}
	if mode != "" {
		p.Args = append(p.Args, "--approval-mode", mode)
	}
	switch {
	case a.has(OptResumeSessionID, resume != ""):
		p.Args = append(p.Args, "--resume", resume)
		p.ResumeSessionID = resume
	case a.has(OptContinue, h.Continue):
		p.Args = append(p.Args, "--resume", "latest")
	}
	a.dropAll(interactive, "", []string{OptAllowedTools, OptPermissionMode, OptAutoApprove, OptResumeSessionID, OptContinue})
	return nil
}

func (a applier) fake(interactive bool, resume string) error {
	p := a.p
	if a.has(OptResumeSessionID, resume != "") {
		p.Args = append(p.Args, "session="+resume)
		p.ResumeSessionID = resume
	}
	if a.has(OptInteractive, interactive) {
		// Like Claude Code's stream-json input: every turn, the first too, comes on stdin.
		p.Args = append(p.Args, "stdin=1")
		p.Interactive = true
		if a.f.Prompt != "" {
			p.Input = ClaudeTurn(a.f.Prompt)
		}
	}
	a.dropAll(false, "", []string{OptResumeSessionID, OptInteractive})
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func validEnvName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
