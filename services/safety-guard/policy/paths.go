package policy

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/gitrepo"
)

// realPath resolves symlinks in p as far as the path exists: the existing
// prefix is resolved, the rest is appended. rm -rf dir/link removes the link,
// so callers resolve the parent of a target unless it ends with a slash.
func realPath(p string) string {
	p = filepath.Clean(p)
	if rp, err := filepath.EvalSymlinks(p); err == nil {
		return rp
	}
	dir, base := filepath.Split(p)
	dir = filepath.Clean(dir)
	if dir == p {
		return p
	}
	return filepath.Join(realPath(dir), base)
}

// RealPath is RealPath memoised for the run: rules resolve the same paths
// many times, and each resolution costs a system call per path component.
func (r *run) RealPath(p string) string {
	p = filepath.Clean(p)
	if rp, ok := r.realCache[p]; ok {
		return rp
	}
	var rp string
	dir, base := filepath.Split(p)
	dir = filepath.Clean(dir)
	if base == "" || dir == p || !filepath.IsAbs(p) {
		rp = realPath(p)
	} else if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		rp = realPath(p)
	} else {
		// Not a symlink (or missing): only the directory can redirect it.
		rp = filepath.Join(r.RealPath(dir), base)
	}
	if r.realCache == nil {
		r.realCache = map[string]string{}
	}
	if len(r.realCache) < 4096 {
		r.realCache[p] = rp
	}
	return rp
}

// TempRoots are directories whose contents are scratch space; rm -rf below
// them is allowed.
func (r *run) TempRoots() []string {
	roots := []string{"/tmp", "/var/tmp", "/private/tmp", "/private/var/tmp"}
	if t, ok := r.req.Env["TMPDIR"]; ok && filepath.IsAbs(t) && !family.HasDotDot(t) {
		t = filepath.Clean(t)
		for _, base := range []string{"/tmp/", "/var/tmp/", "/private/tmp/", "/var/folders/", "/private/var/folders/"} {
			if strings.HasPrefix(t+"/", base) {
				roots = append(roots, t)
				break
			}
		}
	}
	return roots
}

// IsTempPath reports whether an absolute, static path lies in a temp root
// (the root itself included).
func (r *run) IsTempPath(p string) bool {
	if !filepath.IsAbs(p) || family.HasDotDot(p) {
		return false
	}
	p = filepath.Clean(p)
	for _, root := range r.TempRoots() {
		if family.Within(p, root) {
			return true
		}
	}
	return false
}

type gitProt struct{ paths, hooks []string }

// GitMetadata caches gitProtectedUncached per run: one command may check the
// same directory many times, and each lookup walks the file system.
func (r *run) GitMetadata(dir string) ([]string, []string) {
	if r.gitCache == nil {
		r.gitCache = map[string]gitProt{}
	}
	if g, ok := r.gitCache[dir]; ok {
		return g.paths, g.hooks
	}
	p, h := gitProtectedUncached(dir)
	r.gitCache[dir] = gitProt{p, h}
	return p, h
}

// gitProtectedUncached returns the git metadata paths near dir: the .git
// entry, the git directories and the hooks directories of the repository
// containing it.
func gitProtectedUncached(dir string) (paths []string, hooks []string) {
	if dir == "" {
		return nil, nil
	}
	l, ok := gitrepo.Find(dir)
	if !ok {
		return nil, nil
	}
	add := func(p string) {
		if p == "" {
			return
		}
		p = realPath(p)
		for _, x := range paths {
			if x == p {
				return
			}
		}
		paths = append(paths, p)
	}
	add(l.DotGit)
	add(l.GitDir)
	add(l.CommonDir)
	if l.CommonDir != "" {
		raw := filepath.Join(l.CommonDir, "hooks")
		h := realPath(raw)
		hooks = append(hooks, h)
		add(h)
		// The link itself too, when hooks is a symlink.
		if h != raw {
			paths = append(paths, raw)
		}
	}
	if l.Hooks != "" {
		h := realPath(l.Hooks)
		hooks = append(hooks, h)
		add(h)
	}
	return paths, hooks
}
