package family

import (
	"path/filepath"
	"strings"
)

// Within reports whether p is root or inside it.
func Within(p, root string) bool {
	if root == "" {
		return false
	}
	if p == root {
		return true
	}
	if root == "/" {
		return strings.HasPrefix(p, "/")
	}
	// p starts with root and a separator; no root+"/" is built, since this
	// runs for every path every rule resolves.
	return len(p) > len(root) && p[len(root)] == filepath.Separator && strings.HasPrefix(p, root)
}

// StrictlyWithin reports whether p is inside root but not root itself.
func StrictlyWithin(p, root string) bool { return p != root && Within(p, root) }

// HasDotDot reports a ".." path component.
func HasDotDot(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// GlobMatch matches a single path component the way the shell does by
// default: a leading dot must be matched explicitly.
func GlobMatch(pattern, name string) bool {
	if strings.HasPrefix(name, ".") && !strings.HasPrefix(pattern, ".") {
		return false
	}
	ok, err := filepath.Match(pattern, name)
	return err == nil && ok
}

func HasGlobMeta(s string) bool { return strings.ContainsAny(s, "*?[") }

// Places is where the command runs and what the paths it names resolve to.
type Places interface {
	// Home is the home directory from the request's environment; "" when unknown.
	Home() string
	// StartDir is the absolute directory the command starts in; "" when unknown.
	StartDir() string
	// RealPath resolves the symlinks in p as far as it exists.
	RealPath(p string) string
	// TempRoots are the directories whose contents are scratch space.
	TempRoots() []string
	// IsTempPath reports whether an absolute, static path lies in a temp root.
	IsTempPath(p string) bool
	// AllowPaths are the policy's directories where recursive deletes are allowed.
	AllowPaths() []string
	// GitMetadata returns the git metadata paths near dir (.git, the git
	// directories, the hooks) and the hooks directories among them.
	GitMetadata(dir string) (paths, hooks []string)
}
