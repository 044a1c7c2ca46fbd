package command

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Ranges a submitted spec must respect. They are the specification's; the
// scheduler and runner rely on them holding for every run that reaches them.
const (
	MinPriority       = -10
	MaxPriority       = 10
	MinTimeoutSeconds = 5
	MaxTimeoutSeconds = 10800
	// MaxWorkspaceBytes is PATH_MAX on Linux.
	MaxWorkspaceBytes = 4096
	MaxModelBytes     = 256
	MaxLabels         = 32
	MaxLabelValue     = 256
)

// labelKey is what a label key may look like: short, printable, no spaces,
// so that labels can be filtered on and shown in tables.
var labelKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)

// Limits are the deployment's bounds on a submitted spec.
type Limits struct {
	// MaxPromptBytes bounds the prompt's size in bytes (UTF-8).
	MaxPromptBytes int
	// WorkspaceRoots, when not empty, are the directories (absolute, clean)
	// a workspace must be inside of.
	WorkspaceRoots []string
}

// Validate checks a spec field by field, in a fixed order, and returns the
// first fault as an *apperr.Error naming the field and what is allowed.
// The check is lexical: the worktree host resolves symlinks when it
// prepares the directory.
func Validate(s runs.Spec, lim Limits) error {
	checks := []func() error{
		func() error { return token("agent", s.Agent, true) },
		func() error { return prompt(s.Prompt, lim.MaxPromptBytes) },
		func() error { return workspace(s.Workspace, lim.WorkspaceRoots) },
		func() error { return token("pool", s.Pool, false) },
		func() error { return token("provider", s.Provider, false) },
		func() error { return model(s.Model) },
		func() error { return token("profile", s.Profile, false) },
		func() error { return intRange("priority", s.Priority, MinPriority, MaxPriority) },
		func() error {
			return intRange("timeoutSeconds", s.TimeoutSeconds, MinTimeoutSeconds, MaxTimeoutSeconds)
		},
		func() error { return isolation(s.Isolation) },
		func() error { return labels(s.Labels) },
	}
	for _, check := range checks {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// token checks a value that becomes a NATS subject token somewhere (the pool
// does, the agent and provider name concurrency keys and templates).
func token(field, v string, required bool) error {
	if v == "" {
		if required {
			return apperr.Invalid(field, "%s is required: 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field)
		}
		return nil
	}
	if !subjects.ValidToken(v) {
		return apperr.Invalid(field, "%s %q must be 1-128 characters of A-Z, a-z, 0-9, '_' or '-'", field, clip(v))
	}
	return nil
}

func prompt(p string, maxBytes int) error {
	if strings.TrimSpace(p) == "" {
		return apperr.Invalid("prompt", "prompt is required and must not be blank (1..=%d bytes)", maxBytes)
	}
	if len(p) > maxBytes {
		return apperr.Invalid("prompt", "prompt is %d bytes; it must be 1..=%d bytes", len(p), maxBytes)
	}
	// A NUL cannot be passed in argv, where most agents take their prompt.
	if strings.ContainsRune(p, 0) {
		return apperr.Invalid("prompt", "prompt must not contain NUL characters")
	}
	return nil
}

func workspace(ws string, roots []string) error {
	if ws == "" {
		return apperr.Invalid("workspace", "workspace is required: the absolute path of the directory the agent works in")
	}
	if len(ws) > MaxWorkspaceBytes || strings.ContainsRune(ws, 0) || !utf8.ValidString(ws) {
		return apperr.Invalid("workspace", "workspace must be a UTF-8 path of at most %d bytes without NUL", MaxWorkspaceBytes)
	}
	if !filepath.IsAbs(ws) {
		return apperr.Invalid("workspace", "workspace %q must be an absolute path", clip(ws))
	}
	for _, elem := range strings.Split(ws, "/") {
		if elem == ".." {
			return apperr.Invalid("workspace", "workspace %q must not contain '..'", clip(ws))
		}
	}
	if clean := filepath.Clean(ws); clean != ws {
		return apperr.Invalid("workspace", "workspace %q must be a clean path (%q)", clip(ws), clip(clean))
	}
	if len(roots) == 0 {
		return nil
	}
	for _, root := range roots {
		if Within(ws, root) {
			return nil
		}
	}
	return &apperr.Error{
		Code:   problems.WorkspaceNotGranted,
		Field:  "workspace",
		Detail: fmt.Sprintf("workspace %q is not inside the allowed roots %s", clip(ws), strings.Join(roots, ", ")),
	}
}

// Within reports whether the clean absolute path p is root or below it.
func Within(p, root string) bool {
	if root == "/" {
		return true
	}
	return p == root || strings.HasPrefix(p, root+"/")
}

func model(m string) error {
	if m == "" {
		return nil
	}
	if len(m) > MaxModelBytes || !printable(m) {
		return apperr.Invalid("model", "model must be 1..=%d bytes of printable characters", MaxModelBytes)
	}
	return nil
}

func intRange(field string, v *int, lo, hi int) error {
	if v == nil {
		return nil
	}
	if *v < lo || *v > hi {
		return apperr.Invalid(field, "%s must be an integer in %d..=%d, got %d", field, lo, hi, *v)
	}
	return nil
}

func isolation(v string) error {
	switch v {
	case runs.IsolationAuto, runs.IsolationWorktree, runs.IsolationNone:
		return nil
	}
	return apperr.Invalid("isolation", "isolation %q must be one of \"\" (automatic), %q or %q", clip(v), runs.IsolationWorktree, runs.IsolationNone)
}

func labels(l map[string]string) error {
	if len(l) > MaxLabels {
		return apperr.Invalid("labels", "labels has %d entries; at most %d are allowed", len(l), MaxLabels)
	}
	for k, v := range l {
		if !labelKey.MatchString(k) {
			return apperr.Invalid("labels", "label key %q must be 1-63 characters of A-Z, a-z, 0-9, '.', '_', '/' or '-', starting with a letter or digit", clip(k))
		}
		if len(v) > MaxLabelValue || !printable(v) {
			return apperr.Invalid("labels", "label %q must have a value of 0..=%d bytes of printable characters", k, MaxLabelValue)
		}
	}
	return nil
}

func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// clip keeps echoed input short: a problem document is not a mirror.
func clip(s string) string {
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
