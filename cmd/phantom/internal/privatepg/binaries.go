package privatepg

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Binaries is a directory holding initdb, pg_ctl and postgres of one version.
type Binaries struct {
	Dir string
	// Major is the PostgreSQL major version (15, 16, ...).
	Major int
}

func (b Binaries) path(name string) string { return filepath.Join(b.Dir, name) }

var required = []string{"initdb", "pg_ctl", "postgres"}

// candidateDirs lists where PostgreSQL is commonly installed, in the order
// tried: the PATH, pg_config's answer, then distribution and Homebrew
// layouts (newest version first within each pattern).
func candidateDirs(ctx context.Context) []string {
	var dirs []string
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if p, err := exec.LookPath("pg_config"); err == nil {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		out, err := exec.CommandContext(cctx, p, "--bindir").Output()
		cancel()
		if err == nil {
			dirs = append(dirs, strings.TrimSpace(string(out)))
		}
	}
	for _, pattern := range []string{
		"/usr/lib/postgresql/*/bin",          // Debian, Ubuntu
		"/usr/pgsql-*/bin",                   // RHEL, Fedora (PGDG)
		"/usr/local/pgsql/bin",               // built from source
		"/opt/homebrew/opt/postgresql@*/bin", // Homebrew on Apple silicon
		"/opt/homebrew/opt/postgresql/bin",   //
		"/usr/local/opt/postgresql@*/bin",    // Homebrew on Intel
		"/usr/local/opt/postgresql/bin",      //
		"/opt/homebrew/bin",                  //
		"/usr/local/bin",                     //
		"/Applications/Postgres.app/Contents/Versions/latest/bin",
	} {
		matches, _ := filepath.Glob(pattern)
		sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
		dirs = append(dirs, matches...)
	}
	return dirs
}

var digits = regexp.MustCompile(`\d+`)

// versionOf is the first number in a path, for ordering versioned dirs.
func versionOf(p string) int {
	n, _ := strconv.Atoi(digits.FindString(p))
	return n
}

// FindBinaries looks for an installed PostgreSQL. With want > 0 it prefers
// that major version (the one an existing cluster was made with). It
// returns the directories it searched when it finds none.
func FindBinaries(ctx context.Context, want int) (Binaries, []string, error) {
	return findIn(ctx, candidateDirs(ctx), want)
}

func findIn(ctx context.Context, dirs []string, want int) (Binaries, []string, error) {
	seen := map[string]bool{}
	var searched []string
	var found []Binaries
	for _, d := range dirs {
		if d == "" {
			continue
		}
		// Symlinked installs (/usr/local/bin/pg_ctl -> /usr/lib/postgresql/15/bin)
		// count once, at their real place, where the three programs sit together.
		real := d
		if p, err := filepath.EvalSymlinks(filepath.Join(d, "pg_ctl")); err == nil {
			real = filepath.Dir(p)
		}
		if seen[real] {
			continue
		}
		seen[real] = true
		searched = append(searched, d)
		b, err := Inspect(ctx, real)
		if err != nil {
			continue
		}
		if want == 0 || b.Major == want {
			return b, searched, nil
		}
		found = append(found, b)
	}
	if len(found) > 0 {
		return found[0], searched, nil
	}
	return Binaries{}, searched, errors.New("no PostgreSQL installation found")
}

var versionLine = regexp.MustCompile(`\(PostgreSQL\) (\d+)`)

// Inspect checks that dir holds initdb, pg_ctl and postgres and reads their version.
func Inspect(ctx context.Context, dir string) (Binaries, error) {
	for _, name := range required {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return Binaries{}, fmt.Errorf("%s has no executable %s", dir, name)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(cctx, filepath.Join(dir, "postgres"), "--version").Output()
	if err != nil {
		return Binaries{}, fmt.Errorf("could not run %s/postgres --version: %w", dir, err)
	}
	m := versionLine.FindSubmatch(out)
	if m == nil {
		return Binaries{}, fmt.Errorf("could not read the version of %s/postgres from %q", dir, strings.TrimSpace(string(out)))
	}
	major, _ := strconv.Atoi(string(m[1]))
	return Binaries{Dir: dir, Major: major}, nil
}
