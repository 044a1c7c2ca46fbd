// Package corpus locates and reads the shared conformance corpora for the
// policy and hook test suites. It lives outside the _test files because two
// packages' tests need it.
package corpus

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the repository root, the nearest directory above the
// working directory that holds go.work, or "".
func RepoRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.work")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Dir finds the corpora: $PHANTOM_CONFORMANCE_DIR, or ../shared/conformance
// beside the repository root. When they are missing it skips the test, or
// fails it when CI=true, where the corpora must be present.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("PHANTOM_CONFORMANCE_DIR")
	if dir == "" {
		if root := RepoRoot(); root != "" {
			dir = filepath.Join(filepath.Dir(root), "shared", "conformance")
		}
	}
	if dir == "" {
		missing(t, "no go.work found above the working directory and PHANTOM_CONFORMANCE_DIR unset")
		return ""
	}
	if _, err := os.Stat(filepath.Join(dir, "safety-net-v0.9.jsonl")); err != nil {
		missing(t, "conformance corpora not found in "+dir)
		return ""
	}
	return dir
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true requires the corpora)", why)
	}
	t.Skipf("%s; set PHANTOM_CONFORMANCE_DIR to run the conformance suite", why)
}

// Read parses a JSON-lines corpus; setLine receives each case's 1-based line
// number, which the reviewed lists refer to.
func Read[T any](t testing.TB, path string, setLine func(*T, int)) []T {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("could not open corpus %s: %v", path, err)
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	// Some cases are megabyte-long commands.
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	n := 0
	for sc.Scan() {
		n++
		var c T
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("could not parse %s line %d: %v", path, n, err)
		}
		setLine(&c, n)
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("could not read %s: %v", path, err)
	}
	return out
}
