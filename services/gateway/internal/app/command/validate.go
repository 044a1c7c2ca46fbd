package command

import (
	"fmt"
	"strings"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// Limits are the deployment's bounds on a submitted spec.
type Limits struct {
	// MaxPromptBytes bounds the prompt's size in bytes (UTF-8).
	MaxPromptBytes int
	// WorkspaceRoots, when not empty, are the directories (absolute, clean)
	// a workspace must be inside of.
	WorkspaceRoots []string
}

// Validate checks a spec with the one validator Phantom has (runs.Validate:
// every field in a fixed order, the harness block's guardrails included,
// the same the scheduler applies again) and then the deployment's workspace
// roots. The first fault is an *apperr.Error naming the field and what is
// allowed: 400 invalid_request, or 403 workspace_not_granted for a
// workspace outside the roots. The check is lexical: the worktree host
// resolves symlinks when it prepares the directory.
func Validate(s runs.Spec, lim Limits) error {
	if err := runs.Validate(s, runs.Limits{MaxPromptBytes: lim.MaxPromptBytes}); err != nil {
		return &apperr.Error{Code: problems.InvalidRequest, Field: err.Field, Detail: err.Message}
	}
	return granted(s.Workspace, lim.WorkspaceRoots)
}

// ValidatePartial checks a partial spec: a profile's defaults, a rerun's
// overrides (required fields may be left out).
func ValidatePartial(s runs.Spec, lim Limits) error {
	if err := runs.Validate(s, runs.Limits{MaxPromptBytes: lim.MaxPromptBytes, Partial: true}); err != nil {
		return &apperr.Error{Code: problems.InvalidRequest, Field: err.Field, Detail: err.Message}
	}
	if s.Workspace == "" {
		return nil
	}
	return granted(s.Workspace, lim.WorkspaceRoots)
}

func granted(ws string, roots []string) error {
	if len(roots) == 0 {
		return nil
	}
	for _, root := range roots {
		if runs.PathWithin(ws, root) {
			return nil
		}
	}
	return &apperr.Error{
		Code:   problems.WorkspaceNotGranted,
		Field:  "workspace",
		Detail: fmt.Sprintf("workspace %q is not inside the allowed roots %s", runs.Clip(ws), strings.Join(roots, ", ")),
	}
}

// clip keeps echoed input short: a problem document is not a mirror.
func clip(s string) string { return runs.Clip(s) }
