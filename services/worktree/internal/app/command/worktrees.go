// Package command holds the worktree service's use cases: prepare a run's
// working directory (checking the workspace grant, creating or reusing a git
// worktree on a branch of its own), remove a run's worktree, and reconcile
// git's records with the disk at start.
package command

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/pkg/bus"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/worktree/internal/domain/layout"
)

// Git runs a git command in dir. A missing git is an error wrapping
// exec.ErrNotFound.
type Git interface {
	Run(ctx context.Context, dir string, args ...string) (string, error)
}

// Appender appends an event to the event log.
type Appender interface {
	Event(ctx context.Context, ev events.Payload, opts ...bus.MsgOption) (*jetstream.PubAck, error)
}

// notARepository is what git says (LC_ALL=C) outside a repository.
const notARepository = "not a git repository"

// Worktrees prepares and removes run worktrees on this host.
type Worktrees struct {
	git    Git
	events Appender
	log    *slog.Logger
	host   string
	roots  []string
	dir    string

	mu sync.Mutex
	// repoLocks serialize git's worktree operations per repository: two
	// concurrent `git worktree add` on one repository race on its lock files.
	repoLocks map[string]*sync.Mutex
}

// Options configure Worktrees.
type Options struct {
	Host string
	// Roots are the granted workspace roots, absolute; none grants any directory.
	Roots []string
	// Dir is where worktrees are created.
	Dir string
}

// New checks the options and returns Worktrees. The worktree directory is
// created if missing; roots are resolved of symlinks when they exist.
func New(git Git, appender Appender, log *slog.Logger, o Options) (*Worktrees, error) {
	if err := subjects.CheckToken("PHANTOM_HOST", o.Host); err != nil {
		return nil, err
	}
	roots := make([]string, 0, len(o.Roots))
	for _, r := range o.Roots {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if !filepath.IsAbs(r) {
			return nil, fmt.Errorf("PHANTOM_WORKSPACE_ROOTS entry %q must be an absolute path", r)
		}
		roots = append(roots, resolve(r))
	}
	if !filepath.IsAbs(o.Dir) {
		return nil, fmt.Errorf("PHANTOM_WORKTREE_DIR %q must be an absolute path", o.Dir)
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("could not create the worktree directory: %w", err)
	}
	dir, err := filepath.EvalSymlinks(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("could not resolve the worktree directory: %w", err)
	}
	return &Worktrees{git: git, events: appender, log: log, host: o.Host, roots: roots, dir: dir, repoLocks: map[string]*sync.Mutex{}}, nil
}

// Dir is the directory worktrees are created in (resolved).
func (w *Worktrees) Dir() string { return w.dir }

// resolve returns p without symlinks when it exists, else cleaned.
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// resolveExisting resolves the symlinks of the longest existing prefix of p
// (clean and absolute) and appends the rest.
func resolveExisting(p string) string {
	rest := ""
	for dir := p; ; dir = filepath.Dir(dir) {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest)
		}
		if dir == filepath.Dir(dir) {
			return p
		}
		rest = filepath.Join(filepath.Base(dir), rest)
	}
}

func (w *Worktrees) lockRepo(top string) func() {
	w.mu.Lock()
	l, ok := w.repoLocks[top]
	if !ok {
		l = &sync.Mutex{}
		w.repoLocks[top] = l
	}
	w.mu.Unlock()
	l.Lock()
	return l.Unlock
}

func fail(code, format string, args ...any) rpc.WorktreePrepareReply {
	return rpc.WorktreePrepareReply{Code: code, Error: fmt.Sprintf(format, args...)}
}

// Prepare answers a prepare request: the directory the run's agent works in.
// Failures are in the reply's Code and Error; nothing is changed for them.
func (w *Worktrees) Prepare(ctx context.Context, req rpc.WorktreePrepareRequest) rpc.WorktreePrepareReply {
	if err := subjects.CheckToken("runId", req.RunID); err != nil {
		return fail(rpc.WorktreeCodeFailed, "%v", err)
	}
	if req.Attempt < 1 {
		return fail(rpc.WorktreeCodeFailed, "attempt %d must be 1 or more", req.Attempt)
	}
	if !filepath.IsAbs(req.Workspace) {
		return fail(rpc.WorktreeCodeFailed, "workspace %q must be an absolute path", req.Workspace)
	}
	if strings.HasPrefix(req.BaseRef, "-") {
		return fail(rpc.WorktreeCodeFailed, "baseRef %q must not start with '-'", req.BaseRef)
	}
	switch req.Isolation {
	case runs.IsolationAuto, runs.IsolationWorktree, runs.IsolationNone:
	default:
		return fail(rpc.WorktreeCodeFailed, "isolation %q must be %q, %q or empty (auto)", req.Isolation, runs.IsolationWorktree, runs.IsolationNone)
	}

	// The git commands below are judged by the safety guard on this run.
	ctx = guardclient.WithRun(ctx, req.RunID, req.Attempt)
	ws, reply, ok := w.grantedWorkspace(req.Workspace)
	if !ok {
		return reply
	}
	if req.Isolation == runs.IsolationNone {
		return rpc.WorktreePrepareReply{Dir: ws}
	}
	top, err := w.git.Run(ctx, ws, "rev-parse", "--show-toplevel")
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || ctx.Err() != nil || !strings.Contains(err.Error(), notARepository) {
			// Without git's word that this is no repository (git missing, a
			// timeout, the safety guard refusing the command), nothing can be
			// told about the workspace: never run a repository's agent in
			// place by accident.
			return fail(rpc.WorktreeCodeFailed, "could not inspect workspace %s: %v", ws, err)
		}
		if req.Isolation == runs.IsolationAuto {
			// Auto: a directory that is not in a repository runs in place.
			return rpc.WorktreePrepareReply{Dir: ws}
		}
		return fail(rpc.WorktreeCodeFailed, "workspace %s is not inside a git repository, which isolation %q needs (use isolation %q to run in the directory itself): %v",
			ws, runs.IsolationWorktree, runs.IsolationNone, err)
	}
	top = resolve(top)
	reply, err = w.worktree(ctx, req, ws, top)
	if err != nil {
		return fail(rpc.WorktreeCodeFailed, "could not prepare a worktree for run %s in %s: %v", req.RunID, top, err)
	}
	ev := events.RunWorktreePrepared{RunID: req.RunID, Attempt: req.Attempt, Host: w.host, Repo: reply.Repo,
		Path: layout.WorktreePath(w.dir, top, req.RunID), Branch: reply.Branch, BaseRef: reply.BaseRef, Reused: reply.Reused}
	if _, err := w.events.Event(ctx, ev, bus.WithAttempt(req.Attempt)); err != nil {
		return fail(rpc.WorktreeCodeFailed, "could not record the worktree of run %s: %v", req.RunID, err)
	}
	return reply
}

// grantedWorkspace resolves the workspace and checks it against the grants.
// A path that is not granted is refused before its existence is revealed.
func (w *Worktrees) grantedWorkspace(workspace string) (string, rpc.WorktreePrepareReply, bool) {
	clean := filepath.Clean(workspace)
	info, err := os.Stat(clean)
	if err != nil {
		// Judge where the path would be: its existing part may be a symlink
		// out of the roots.
		if !layout.Granted(w.roots, resolveExisting(clean)) {
			return "", fail(rpc.WorktreeCodeNotGranted, "workspace %s is not inside a granted root", clean), false
		}
		if errors.Is(err, fs.ErrNotExist) {
			return "", fail(rpc.WorktreeCodeCWDMissing, "workspace %s does not exist on host %s", clean, w.host), false
		}
		return "", fail(rpc.WorktreeCodeFailed, "could not read workspace %s: %v", clean, err), false
	}
	// Judge the real path: a symlink inside a root may point anywhere.
	real, err := filepath.EvalSymlinks(clean)
	if err != nil {
		return "", fail(rpc.WorktreeCodeFailed, "could not resolve workspace %s: %v", clean, err), false
	}
	if !layout.Granted(w.roots, real) {
		return "", fail(rpc.WorktreeCodeNotGranted, "workspace %s (%s) is not inside a granted root", clean, real), false
	}
	if !info.IsDir() {
		return "", fail(rpc.WorktreeCodeCWDMissing, "workspace %s is not a directory", clean), false
	}
	return real, rpc.WorktreePrepareReply{}, true
}

// worktree creates the run's worktree, or reuses the one an earlier attempt made.
func (w *Worktrees) worktree(ctx context.Context, req rpc.WorktreePrepareRequest, ws, top string) (rpc.WorktreePrepareReply, error) {
	unlock := w.lockRepo(top)
	defer unlock()
	path := layout.WorktreePath(w.dir, top, req.RunID)
	branch := layout.Branch(req.RunID)
	reply := rpc.WorktreePrepareReply{Isolated: true, Repo: top, Branch: branch}

	registered, err := w.registered(ctx, top, path)
	if err != nil {
		return reply, err
	}
	_, statErr := os.Stat(path)
	exists := statErr == nil
	switch {
	case registered && exists:
		reply.Reused = true
		base, err := w.git.Run(ctx, path, "rev-parse", "HEAD")
		if err != nil {
			return reply, err
		}
		reply.BaseRef = base
	case exists:
		return reply, fmt.Errorf("%s exists but is not a worktree of %s; move it away", path, top)
	default:
		if err := w.markRepo(top); err != nil {
			return reply, err
		}
		if registered {
			// The directory went away behind git's back: forget it first.
			if _, err := w.git.Run(ctx, top, "worktree", "prune"); err != nil {
				return reply, err
			}
		}
		if _, err := w.git.Run(ctx, top, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); err == nil {
			// An earlier attempt's branch, its worktree removed: keep its commits.
			if _, err := w.git.Run(ctx, top, "worktree", "add", path, branch); err != nil {
				return reply, err
			}
			reply.Reused = true
			base, err := w.git.Run(ctx, path, "rev-parse", "HEAD")
			if err != nil {
				return reply, err
			}
			reply.BaseRef = base
		} else {
			ref := req.BaseRef
			if ref == "" {
				ref = "HEAD"
			}
			base, err := w.git.Run(ctx, top, "rev-parse", "--verify", "--quiet", ref+"^{commit}")
			if err != nil {
				return reply, fmt.Errorf("base ref %q is not a commit of %s (a repository needs at least one commit)", ref, top)
			}
			if _, err := w.git.Run(ctx, top, "worktree", "add", "-b", branch, path, base); err != nil {
				return reply, err
			}
			reply.BaseRef = base
		}
	}
	// A workspace below the top level runs in the same place in the worktree.
	rel, err := filepath.Rel(top, ws)
	if err != nil || !runs.PathWithin(ws, top) {
		rel = "."
	}
	reply.Dir = filepath.Join(path, rel)
	if err := os.MkdirAll(reply.Dir, 0o755); err != nil {
		return reply, fmt.Errorf("could not create %s: %w", reply.Dir, err)
	}
	return reply, nil
}

// registered reports whether git lists path as a worktree of top.
func (w *Worktrees) registered(ctx context.Context, top, path string) (bool, error) {
	out, err := w.git.Run(ctx, top, "worktree", "list", "--porcelain")
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "worktree "); ok && resolve(p) == path {
			return true, nil
		}
	}
	return false, nil
}

// Remove removes the worktree of a run; its branch stays (the agent's commits
// are the user's work). Removing what is not there is not an error.
func (w *Worktrees) Remove(ctx context.Context, req rpc.WorktreeRemoveRequest) rpc.WorktreeRemoveReply {
	if err := subjects.CheckToken("runId", req.RunID); err != nil {
		return rpc.WorktreeRemoveReply{Error: err.Error()}
	}
	ctx = guardclient.WithRun(ctx, req.RunID, 0)
	paths, err := filepath.Glob(filepath.Join(w.dir, "*", req.RunID))
	if err != nil {
		return rpc.WorktreeRemoveReply{Error: err.Error()}
	}
	removed := false
	for _, path := range paths {
		top, err := w.repoOf(ctx, path)
		if err != nil {
			return rpc.WorktreeRemoveReply{Removed: removed, Error: fmt.Sprintf("could not find the repository of %s: %v", path, err)}
		}
		args := []string{"worktree", "remove"}
		if req.Force {
			args = append(args, "--force")
		}
		unlock := w.lockRepo(top)
		_, err = w.git.Run(ctx, top, append(args, path)...)
		unlock()
		if err != nil {
			hint := ""
			if !req.Force {
				hint = " (force removes a worktree with changes, when the safety guard's policy allows git worktree remove --force)"
			}
			return rpc.WorktreeRemoveReply{Removed: removed, Error: fmt.Sprintf("could not remove the worktree of run %s: %v%s", req.RunID, err, hint)}
		}
		removed = true
		w.dropEmptyRepoDir(filepath.Dir(path))
	}
	return rpc.WorktreeRemoveReply{Removed: removed}
}

// repoOf returns the top level of the main repository a worktree belongs to.
func (w *Worktrees) repoOf(ctx context.Context, path string) (string, error) {
	common, err := w.git.Run(ctx, path, "rev-parse", "--path-format=absolute", "--git-common-dir")
	if err != nil {
		return "", err
	}
	return filepath.Dir(common), nil
}

// repoMarker, in a repository's directory under the worktree root, names the
// repository: reconciliation finds the repositories to prune from it even when
// every worktree directory of one is gone.
const repoMarker = ".phantom-repo"

func (w *Worktrees) markRepo(top string) error {
	dir := filepath.Join(w.dir, layout.RepoDir(top))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("could not create %s: %w", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, repoMarker), []byte(top+"\n"), 0o644); err != nil {
		return fmt.Errorf("could not record the repository of %s: %w", dir, err)
	}
	return nil
}

// dropEmptyRepoDir removes a repository's directory once it holds no worktree.
func (w *Worktrees) dropEmptyRepoDir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.Name() != repoMarker {
			return
		}
	}
	_ = os.Remove(filepath.Join(dir, repoMarker))
	_ = os.Remove(dir)
}

// Reconcile prunes git's records of worktrees whose directories are gone, in
// every repository this host has made worktrees for, and drops the
// directories of repositories left without any. It returns the repositories.
func (w *Worktrees) Reconcile(ctx context.Context) []string {
	markers, _ := filepath.Glob(filepath.Join(w.dir, "*", repoMarker))
	var repos []string
	for _, marker := range markers {
		b, err := os.ReadFile(marker)
		if err != nil {
			continue
		}
		top := strings.TrimSpace(string(b))
		if _, err := os.Stat(top); err != nil {
			w.log.Warn("the repository of some worktrees is gone", "repo", top, "dir", filepath.Dir(marker))
			continue
		}
		repos = append(repos, top)
		unlock := w.lockRepo(top)
		if _, err := w.git.Run(ctx, top, "worktree", "prune"); err != nil {
			w.log.Warn("could not prune worktrees", "repo", top, "error", err)
		}
		unlock()
		w.dropEmptyRepoDir(filepath.Dir(marker))
	}
	return repos
}
