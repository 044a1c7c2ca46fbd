// Package layout decides where things go: which paths a grant covers, where a
// run's worktree lives and what its branch is called. Pure functions, no I/O.
package layout

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/phantom-run/phantom/contracts/runs"
)

// BranchPrefix starts the name of every run branch.
const BranchPrefix = "phantom/"

// Branch is the branch a run's worktree is on.
func Branch(runID string) string { return BranchPrefix + runID }

// Granted reports whether path is within one of roots (runs.PathWithin:
// lexical, so the caller resolves symlinks first); no roots grants all.
func Granted(roots []string, path string) bool {
	if len(roots) == 0 {
		return true
	}
	for _, r := range roots {
		if runs.PathWithin(path, r) {
			return true
		}
	}
	return false
}

// RepoDir is the directory, under the worktree root, holding the worktrees of
// the repository whose top level is top: <name>-<hash of the path>, so two
// checkouts with one name do not collide and a person sees which repo it is.
func RepoDir(top string) string {
	sum := sha256.Sum256([]byte(top))
	return filepath.Base(top) + "-" + hex.EncodeToString(sum[:6])
}

// WorktreePath is where run runID of the repository top gets its worktree.
func WorktreePath(root, top, runID string) string {
	return filepath.Join(root, RepoDir(top), runID)
}
