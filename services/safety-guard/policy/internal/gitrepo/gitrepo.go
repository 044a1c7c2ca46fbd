// Package gitrepo reads just enough of a git repository's on-disk layout to
// verify linked worktrees and to find the files git itself relies on, without
// running git.
package gitrepo

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
)

// Layout describes the repository a directory belongs to.
type Layout struct {
	// Root is the worktree root: the directory holding the .git entry.
	Root string
	// DotGit is the .git entry (a directory, or a file for linked worktrees
	// and submodules).
	DotGit string
	// GitDir is the per-worktree git directory.
	GitDir string
	// CommonDir is the shared git directory (equal to GitDir outside linked worktrees).
	CommonDir string
	// Hooks is the hooks directory git runs from.
	Hooks string
}

// Find returns the layout of the repository containing dir (resolved
// physically), or false when dir is not inside one.
func Find(dir string) (Layout, bool) {
	cur, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return Layout{}, false
	}
	for {
		dg := filepath.Join(cur, ".git")
		if _, err := os.Lstat(dg); err == nil {
			l := Layout{Root: cur, DotGit: dg}
			l.GitDir = resolveGitDir(dg)
			if l.GitDir == "" {
				return l, true
			}
			l.CommonDir = resolveCommonDir(l.GitDir)
			if l.CommonDir == "" {
				l.CommonDir = l.GitDir
			}
			l.Hooks = filepath.Join(l.CommonDir, "hooks")
			if hp, ok := configValue(filepath.Join(l.CommonDir, "config"), "core", "hookspath"); ok && hp != "" {
				if strings.HasPrefix(hp, "~/") {
					if h, err := os.UserHomeDir(); err == nil {
						hp = filepath.Join(h, hp[2:])
					}
				}
				if !filepath.IsAbs(hp) {
					hp = filepath.Join(l.Root, hp)
				}
				l.Hooks = filepath.Clean(hp)
			}
			return l, true
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return Layout{}, false
		}
		cur = parent
	}
}

// resolveGitDir follows a gitfile ("gitdir: <path>") or returns the directory.
func resolveGitDir(dotGit string) string {
	fi, err := os.Lstat(dotGit)
	if err != nil {
		return ""
	}
	if fi.IsDir() {
		return dotGit
	}
	line, ok := firstLine(dotGit)
	if !ok || !strings.HasPrefix(line, "gitdir:") {
		return ""
	}
	p := strings.TrimSpace(line[len("gitdir:"):])
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(filepath.Dir(dotGit), p)
	}
	return filepath.Clean(p)
}

func resolveCommonDir(gitDir string) string {
	line, ok := firstLine(filepath.Join(gitDir, "commondir"))
	if !ok {
		return gitDir
	}
	if line == "" {
		return ""
	}
	if !filepath.IsAbs(line) {
		line = filepath.Join(gitDir, line)
	}
	return filepath.Clean(line)
}

func firstLine(path string) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	if s.Scan() {
		return strings.TrimSpace(s.Text()), true
	}
	return "", true
}

// IsLinkedWorktree reports whether dir lies in a linked worktree created by
// "git worktree add": its .git is a regular file pointing at
// <common>/worktrees/<name>, that directory has a commondir file, and its
// gitdir back-link points at this very .git file. A submodule's gitfile has no
// commondir and does not qualify.
func IsLinkedWorktree(dir string) bool {
	l, ok := Find(dir)
	if !ok {
		return false
	}
	fi, err := os.Lstat(l.DotGit)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	if l.GitDir == "" {
		return false
	}
	if _, err := os.Stat(filepath.Join(l.GitDir, "commondir")); err != nil {
		return false
	}
	back, ok := firstLine(filepath.Join(l.GitDir, "gitdir"))
	if !ok || back == "" {
		return false
	}
	if !filepath.IsAbs(back) {
		back = filepath.Join(l.GitDir, back)
	}
	if !samePath(back, l.DotGit) {
		return false
	}
	cfg := filepath.Join(l.GitDir, "config.worktree")
	if wt, ok := configValue(cfg, "core", "worktree"); ok {
		if !filepath.IsAbs(wt) {
			wt = filepath.Join(l.GitDir, wt)
		}
		if !samePath(wt, l.Root) {
			return false
		}
	}
	return true
}

func samePath(a, b string) bool {
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	if err1 == nil && err2 == nil {
		return os.SameFile(fa, fb)
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// LocalConfigFiles returns the repository config files of the repository at
// dir (shared config and per-worktree config).
func LocalConfigFiles(dir string) ([]string, bool) {
	l, ok := Find(dir)
	if !ok || l.GitDir == "" {
		return nil, false
	}
	return []string{filepath.Join(l.CommonDir, "config"), filepath.Join(l.GitDir, "config.worktree")}, true
}

// RecursesSubmodules reports whether the config files enable
// submodule.recurse, or might: an include directive or an unreadable file
// counts as yes, so callers fail closed. Missing files are ignored.
func RecursesSubmodules(files ...string) bool {
	for _, f := range files {
		res, present := scanRecurse(f)
		if present && res {
			return true
		}
	}
	return false
}

func scanRecurse(path string) (bool, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return false, false
		}
		return true, true
	}
	section := ""
	recurse := false
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				return true, true
			}
			section = strings.ToLower(strings.TrimSpace(line[1:end]))
			line = strings.TrimSpace(line[end+1:])
			if line == "" {
				continue
			}
		}
		key, val := line, "true"
		if eq := strings.IndexByte(line, '='); eq >= 0 {
			key, val = strings.TrimSpace(line[:eq]), strings.TrimSpace(line[eq+1:])
		}
		key = strings.ToLower(key)
		if (section == "include" || strings.HasPrefix(section, "includeif")) && key == "path" {
			return true, true
		}
		if section == "submodule" && key == "recurse" {
			recurse = TruthyValue(unquote(val))
		}
	}
	return recurse, true
}

// TruthyValue reads a git boolean the way submodule.recurse is read: anything
// but false/no/off/0 enables it.
func TruthyValue(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "false", "no", "off", "0":
		return false
	}
	return true
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// configValue returns the last value of section.key in a config file.
func configValue(path, section, key string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	cur := ""
	found, val := false, ""
	for _, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") {
			end := strings.IndexByte(line, ']')
			if end < 0 {
				continue
			}
			cur = strings.ToLower(strings.TrimSpace(line[1:end]))
			continue
		}
		if cur != section {
			continue
		}
		k, v := line, ""
		if eq := strings.IndexByte(line, '='); eq >= 0 {
			k, v = strings.TrimSpace(line[:eq]), strings.TrimSpace(line[eq+1:])
		}
		if strings.EqualFold(k, key) {
			found, val = true, unquote(v)
		}
	}
	return val, found
}
