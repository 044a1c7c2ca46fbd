package family

import (
	"encoding/base64"
	"regexp"
	"strings"
)

// Programs that run code the engine reads: shells, awk, and interpreters.
var (
	shellNames     = NameSet("bash", "sh", "zsh", "ksh", "dash", "ash", "mksh", "yash", "fish", "csh", "tcsh", "posh", "rbash", "pdksh", "oksh", "loksh")
	awkNames       = NameSet("awk", "gawk", "mawk", "nawk")
	pythonRe       = regexp.MustCompile(`^(python|pypy)[0-9.]*$`)
	interpreterSet = NameSet("node", "nodejs", "deno", "bun", "ruby", "perl", "php", "rscript", "osascript", "lua", "luajit", "jruby")
)

// IsShell reports whether base (a command base name) is a shell.
func IsShell(base string) bool { return shellNames[base] }

// IsAwk reports whether base is an awk.
func IsAwk(base string) bool { return awkNames[base] }

// InterpreterKind returns the language of an interpreter ("python", "node",
// "ruby", "perl", "php", "lua", ...), or "" when base is no interpreter.
func InterpreterKind(base string) string {
	switch {
	case pythonRe.MatchString(base):
		return "python"
	case base == "nodejs":
		return "node"
	case base == "jruby":
		return "ruby"
	case interpreterSet[base]:
		return base
	}
	return ""
}

// DecodeBase64 decodes s in any of the standard and URL alphabets, padded
// or not.
func DecodeBase64(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), true
		}
	}
	return "", false
}
