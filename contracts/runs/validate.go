package runs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/phantom-run/phantom/contracts/subjects"
)

// Bounds of a run request besides the guardrails (see the constants in
// runs.go). They are lexical: what needs the machine (symlinks, grants) is
// judged where the run lands.
const (
	// MaxWorkspaceBytes is PATH_MAX on Linux.
	MaxWorkspaceBytes = 4096
	MaxModelBytes     = 256
	MaxLabels         = 32
	MaxLabelValue     = 256
	// MaxToolNames bounds allowedTools, disallowedTools and cliAllowlist.
	MaxToolNames = 256
	// MaxToolNameBytes bounds one of their entries.
	MaxToolNameBytes = 256
	// MaxTurnsLimit bounds harness.maxTurns.
	MaxTurnsLimit = 10000
	// MaxHarnessEnv bounds harness.env.
	MaxHarnessEnv = 64
	// MaxHarnessTextBytes bounds the free texts of the harness block
	// (shellPrelude, appendSystemPrompt, one env value).
	MaxHarnessTextBytes = 64 << 10
	// MaxHarnessDocBytes bounds the JSON documents of the harness block
	// (mcpConfig, outputSchema).
	MaxHarnessDocBytes = 256 << 10
	// MaxSessionIDBytes bounds harness.resumeSessionId.
	MaxSessionIDBytes = 256
)

var (
	// labelKey is what a label key may look like: short, printable, no
	// spaces, so that labels can be filtered on and shown in tables.
	labelKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)
	// envKey is a portable environment variable name.
	envKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	// permissionMode is a CLI's permission mode word (Claude: acceptEdits,
	// bypassPermissions, ...); the runner maps it per CLI.
	permissionMode = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
)

// FieldError is a run request refused: Field is the offending field's JSON
// path in the request ("priority", "harness.timeoutMs"), Message says what
// is wrong and what is allowed, Reason is the stable code (ReasonInvalidRequest).
type FieldError struct {
	Reason  string
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// Limits are what the deployment adds to the specification's bounds.
type Limits struct {
	// MaxPromptBytes bounds the prompt; 0 leaves its size to the transport
	// (the scheduler cannot know the gateway's setting and must not refuse
	// what the gateway accepted).
	MaxPromptBytes int
	// Partial accepts a request whose required fields (agent, prompt,
	// workspace) are missing: a profile's defaults, a rerun's overrides.
	Partial bool
}

// Validate checks a run request field by field, in a fixed order (the
// request's own, the harness block's last), and returns the first fault, or
// nil. It is the one validator of Phantom: the gateway answers 400 with it
// and the scheduler rejects with it, so both always agree. It is pure and
// lexical (no file system, no clock).
func Validate(s Spec, lim Limits) *FieldError {
	checks := []func() *FieldError{
		func() *FieldError { return token("agent", s.Agent, !lim.Partial) },
		func() *FieldError { return prompt(s, lim) },
		func() *FieldError { return workspace(s.Workspace, !lim.Partial) },
		func() *FieldError { return token("pool", s.Pool, false) },
		func() *FieldError { return token("provider", s.Provider, false) },
		func() *FieldError { return text("model", s.Model, MaxModelBytes) },
		func() *FieldError { return token("profile", s.Profile, false) },
		func() *FieldError { return intRange("priority", s.Priority, MinPriority, MaxPriority) },
		func() *FieldError {
			return intRange("timeoutSeconds", s.TimeoutSeconds, MinTimeoutSeconds, MaxTimeoutSeconds)
		},
		func() *FieldError { return isolation(s.Isolation) },
		func() *FieldError { return labels(s.Labels) },
		func() *FieldError { return intRange("maxRetries", s.MaxRetries, 0, MaxRetriesLimit) },
		func() *FieldError {
			return intRange("retryBackoffMs", s.RetryBackoffMs, MinRetryBackoffMs, MaxRetryBackoffMs)
		},
		func() *FieldError { return budget(s.Budget) },
		func() *FieldError { return harness(s.Harness) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Reason: ReasonInvalidRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// token checks a value that becomes a NATS subject token somewhere (the pool
// does; the agent and provider name concurrency keys and templates).
func token(field, v string, required bool) *FieldError {
	if v == "" {
		if required {
			return invalid(field, "%s is required: 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field)
		}
		return nil
	}
	if !subjects.ValidToken(v) {
		return invalid(field, "%s %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field, Clip(v))
	}
	return nil
}

func prompt(s Spec, lim Limits) *FieldError {
	p := s.Prompt
	// An interactive run may start without a task: its input comes later.
	blankOK := lim.Partial || (s.Interactive != nil && *s.Interactive)
	if strings.TrimSpace(p) == "" && !blankOK {
		if lim.MaxPromptBytes > 0 {
			return invalid("prompt", "prompt is required and must not be blank (1..=%d bytes)", lim.MaxPromptBytes)
		}
		return invalid("prompt", "prompt is required and must not be blank")
	}
	if lim.MaxPromptBytes > 0 && len(p) > lim.MaxPromptBytes {
		return invalid("prompt", "prompt is %d bytes; it must be 1..=%d bytes", len(p), lim.MaxPromptBytes)
	}
	// A NUL cannot be passed in argv, where most agents take their prompt.
	if strings.ContainsRune(p, 0) {
		return invalid("prompt", "prompt must not contain NUL characters")
	}
	return nil
}

func workspace(ws string, required bool) *FieldError {
	if ws == "" {
		if required {
			return invalid("workspace", "workspace is required: the absolute path of the directory the agent works in")
		}
		return nil
	}
	if len(ws) > MaxWorkspaceBytes || strings.ContainsRune(ws, 0) || !utf8.ValidString(ws) {
		return invalid("workspace", "workspace must be a UTF-8 path of at most %d bytes without NUL", MaxWorkspaceBytes)
	}
	if !filepath.IsAbs(ws) {
		return invalid("workspace", "workspace %q must be an absolute path", Clip(ws))
	}
	for _, elem := range strings.Split(ws, "/") {
		if elem == ".." {
			return invalid("workspace", "workspace %q must not contain '..'", Clip(ws))
		}
	}
	if clean := filepath.Clean(ws); clean != ws {
		return invalid("workspace", "workspace %q must be a clean path (%q)", Clip(ws), Clip(clean))
	}
	return nil
}

// PathWithin reports whether path is root or inside it. Every service that
// confines a run to a directory (granted workspace roots, per-workspace
// limits, worktrees, the guard's paths) asks it. The check is lexical:
// both are cleaned first, so /a/b/.. is not inside /a/b and /a/bc is not
// inside /a/b; resolving symlinks, where they matter, is the caller's.
// Both must be absolute: a relative or empty one is inside nothing.
func PathWithin(path, root string) bool {
	if !filepath.IsAbs(path) || !filepath.IsAbs(root) {
		return false
	}
	path, root = filepath.Clean(path), filepath.Clean(root)
	return path == root || root == "/" || strings.HasPrefix(path, root+"/")
}

// text checks an optional free text: at most max bytes of printable characters.
func text(field, v string, max int) *FieldError {
	if v == "" {
		return nil
	}
	if len(v) > max || !Printable(v) {
		return invalid(field, "%s must be 1..=%d bytes of printable characters", field, max)
	}
	return nil
}

func intRange(field string, v *int, lo, hi int) *FieldError {
	if v == nil {
		return nil
	}
	if *v < lo || *v > hi {
		return invalid(field, "%s must be an integer in %d..=%d, got %d", field, lo, hi, *v)
	}
	return nil
}

func isolation(v string) *FieldError {
	switch v {
	case IsolationAuto, IsolationWorktree, IsolationNone:
		return nil
	}
	return invalid("isolation", "isolation %q must be one of \"\" (automatic), %q or %q", Clip(v), IsolationWorktree, IsolationNone)
}

func labels(l map[string]string) *FieldError {
	if len(l) > MaxLabels {
		return invalid("labels", "labels has %d entries; at most %d are allowed", len(l), MaxLabels)
	}
	for k, v := range l {
		if !labelKey.MatchString(k) {
			return invalid("labels", "label key %q must be 1-63 characters of A-Z, a-z, 0-9, '.', '_', '/' or '-', starting with a letter or digit", Clip(k))
		}
		if len(v) > MaxLabelValue || !Printable(v) {
			return invalid("labels", "label %q must have a value of 0..=%d bytes of printable characters", k, MaxLabelValue)
		}
	}
	return nil
}

func budget(b *Budget) *FieldError {
	if b == nil {
		return nil
	}
	if c := b.MaxCostUSD; c != nil && (math.IsNaN(*c) || math.IsInf(*c, 0) || *c <= 0 || *c > 1e6) {
		return invalid("budget.maxCostUsd", "budget.maxCostUsd must be a number in (0, 1000000], got %v", *c)
	}
	if t := b.MaxTokens; t != nil && (*t < 1 || *t > 1e12) {
		return invalid("budget.maxTokens", "budget.maxTokens must be an integer in 1..=1000000000000, got %d", *t)
	}
	return nil
}

func harness(h *Harness) *FieldError {
	if h == nil {
		return nil
	}
	checks := []func() *FieldError{
		func() *FieldError { return names("harness.allowedTools", h.AllowedTools) },
		func() *FieldError { return names("harness.disallowedTools", h.DisallowedTools) },
		func() *FieldError {
			if h.PermissionMode != "" && !permissionMode.MatchString(h.PermissionMode) {
				return invalid("harness.permissionMode", "harness.permissionMode %q must be a word of 1-64 characters of A-Z, a-z, 0-9, '_' or '-' (Claude: default, acceptEdits, plan, bypassPermissions, ...)", Clip(h.PermissionMode))
			}
			return nil
		},
		func() *FieldError {
			switch h.Sandbox {
			case "", SandboxReadOnly, SandboxWorkspaceWrite, SandboxFullAccess:
				return nil
			}
			return invalid("harness.sandbox", "harness.sandbox %q must be %q, %q or %q", Clip(h.Sandbox), SandboxReadOnly, SandboxWorkspaceWrite, SandboxFullAccess)
		},
		func() *FieldError {
			// The one combination the specification refuses outright: an
			// agent that acts without asking, with nothing to contain it.
			if h.AutoApprove != nil && *h.AutoApprove && h.Sandbox == SandboxFullAccess {
				return invalid("harness.autoApprove", "harness.autoApprove together with harness.sandbox %q is refused by policy: use sandbox %q or %q, or leave autoApprove off",
					SandboxFullAccess, SandboxWorkspaceWrite, SandboxReadOnly)
			}
			return nil
		},
		func() *FieldError { return intRange("harness.maxTurns", h.MaxTurns, 1, MaxTurnsLimit) },
		func() *FieldError {
			return intRange("harness.timeoutMs", h.TimeoutMs, MinHarnessTimeoutMs, MaxHarnessTimeoutMs)
		},
		func() *FieldError {
			return intRange("harness.maxToolResultLines", h.MaxToolResultLines, 1, MaxToolResultLinesCap)
		},
		func() *FieldError { return object("harness.mcpConfig", h.MCPConfig) },
		func() *FieldError { return object("harness.outputSchema", h.OutputSchema) },
		func() *FieldError { return script("harness.shellPrelude", h.ShellPrelude) },
		func() *FieldError { return names("harness.cliAllowlist", h.CLIAllowlist) },
		func() *FieldError { return env(h.Env) },
		func() *FieldError { return script("harness.appendSystemPrompt", h.AppendSystemPrompt) },
		func() *FieldError { return text("harness.resumeSessionId", h.ResumeSessionID, MaxSessionIDBytes) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// names checks a list of tool or executable names.
func names(field string, list []string) *FieldError {
	if len(list) > MaxToolNames {
		return invalid(field, "%s has %d entries; at most %d are allowed", field, len(list), MaxToolNames)
	}
	for _, n := range list {
		if n == "" || len(n) > MaxToolNameBytes || !Printable(n) {
			return invalid(field, "every entry of %s must be 1..=%d bytes of printable characters, got %q", field, MaxToolNameBytes, Clip(n))
		}
	}
	return nil
}

// object checks an optional JSON document that must be an object.
func object(field string, doc json.RawMessage) *FieldError {
	if len(doc) == 0 {
		return nil
	}
	if len(doc) > MaxHarnessDocBytes {
		return invalid(field, "%s is %d bytes; at most %d are allowed", field, len(doc), MaxHarnessDocBytes)
	}
	trimmed := bytes.TrimSpace(doc)
	if bytes.Equal(trimmed, []byte("null")) {
		return nil
	}
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return invalid(field, "%s must be a JSON object", field)
	}
	return nil
}

// script checks a multi-line text handed to a shell or an agent.
func script(field, v string) *FieldError {
	if len(v) > MaxHarnessTextBytes {
		return invalid(field, "%s is %d bytes; at most %d are allowed", field, len(v), MaxHarnessTextBytes)
	}
	if strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
		return invalid(field, "%s must be UTF-8 text without NUL", field)
	}
	return nil
}

func env(e map[string]string) *FieldError {
	if len(e) > MaxHarnessEnv {
		return invalid("harness.env", "harness.env has %d entries; at most %d are allowed", len(e), MaxHarnessEnv)
	}
	for k, v := range e {
		if !envKey.MatchString(k) {
			return invalid("harness.env", "harness.env name %q must match [A-Za-z_][A-Za-z0-9_]{0,127}", Clip(k))
		}
		// Phantom's own variables identify the run to hooks; an agent must
		// not be able to pose as another run.
		if strings.HasPrefix(k, "PHANTOM_") {
			return invalid("harness.env", "harness.env name %q is reserved: names starting with PHANTOM_ are Phantom's", k)
		}
		if err := script("harness.env", v); err != nil {
			return invalid("harness.env", "harness.env %s must be UTF-8 text without NUL of at most %d bytes", k, MaxHarnessTextBytes)
		}
	}
	return nil
}

// Printable reports whether s is valid UTF-8 of printable characters.
func Printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Clip keeps echoed input short: a problem document is not a mirror.
func Clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
