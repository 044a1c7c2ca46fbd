package guardclient

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/phantom-run/phantom/contracts/rpc"
)

// ProjectRuleFileName is upstream's project rule file.
const ProjectRuleFileName = ".safety-net.json"

// MaxRuleFileBytes bounds one rule file a requester may send; the service
// refuses a larger one.
const MaxRuleFileBytes = 64 << 10

// UserRuleFile is upstream's user rule file: ~/.cc-safety-net/config.json,
// "" when home is unknown.
func UserRuleFile(home string) string {
	if home == "" || !filepath.IsAbs(home) {
		return ""
	}
	return filepath.Join(home, ".cc-safety-net", "config.json")
}

// ProjectRuleFile finds the project's rule file for a command run in cwd:
// .safety-net.json in cwd or the nearest directory above it, not above the
// top of the git repository cwd is in (the first directory holding .git).
// It returns "" when there is none.
func ProjectRuleFile(cwd string) string {
	if cwd == "" || !filepath.IsAbs(cwd) {
		return ""
	}
	for dir := filepath.Clean(cwd); ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, ProjectRuleFileName)
		if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
			return p
		}
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return ""
		}
		if dir == filepath.Dir(dir) {
			return ""
		}
	}
}

// ReadRuleFiles reads the user's and the project's rule files that exist,
// user first (a project rule overrides a user rule of the same name), to be
// sent with a check. A file that exists but cannot be read is an error:
// the rules in it cannot be ignored silently.
func ReadRuleFiles(cwd, home string) ([]rpc.GuardRuleFile, error) {
	var out []rpc.GuardRuleFile
	for _, p := range []string{UserRuleFile(home), ProjectRuleFile(cwd)} {
		if p == "" {
			continue
		}
		content, err := readBounded(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("could not read rule file %s: %w", p, err)
		}
		out = append(out, rpc.GuardRuleFile{Path: p, Content: content})
	}
	return out, nil
}

// readBounded reads at most one byte more than a rule file may hold, so a
// huge file is refused by the service without being read whole.
func readBounded(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRuleFileBytes+1))
	return string(data), err
}

// commandEnvNames are the variables the engine reads besides GIT_*: where
// home and temp directories are, and where agents keep their credentials.
var commandEnvNames = map[string]bool{
	"HOME": true, "TMPDIR": true, "CODEX_HOME": true, "XDG_CONFIG_HOME": true,
}

// CommandEnv picks from environ ("NAME=value" entries, as os.Environ gives)
// the variables the engine judges commands with: HOME, TMPDIR, CODEX_HOME,
// XDG_CONFIG_HOME and git's GIT_* settings. Nothing else is sent, so API
// keys in the agent's environment never leave the machine.
func CommandEnv(environ []string) map[string]string {
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if commandEnvNames[k] || (strings.HasPrefix(k, "GIT_") && !secretName(k)) {
			env[k] = v
		}
	}
	return env
}

// secretName reports names that look like they hold a credential
// (GIT_TOKEN, GIT_PASSWORD, ...), which git itself does not read.
func secretName(k string) bool {
	for _, s := range []string{"TOKEN", "PASSWORD", "SECRET", "CREDENTIAL"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellJoin renders an argv (a program and its arguments, as exec runs
// them) as the shell command line the engine judges: it parses back to the
// same words.
func ShellJoin(argv ...string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		if shellSafe.MatchString(a) {
			parts[i] = a
			continue
		}
		parts[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(parts, " ")
}
