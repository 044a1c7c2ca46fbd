package secrets

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// nonPathOperandCmds are commands known not to treat operands as paths.
var nonPathOperandCmds = family.NameSet("echo", "printf")

// findMatchPrimaries are the find primaries that name the files found.
var findMatchPrimaries = family.NameSet("-name", "-iname", "-path", "-ipath", "-wholename", "-iwholename", "-samefile")

func isCodeFlag(kind, v string) bool {
	switch v {
	case "-c", "-e", "-E", "-r", "--eval", "--exec", "-p", "--print":
		return true
	}
	if len(v) > 2 && v[0] == '-' && v[1] != '-' {
		last := v[len(v)-1]
		switch kind {
		case "sh", "python":
			return last == 'c'
		case "node", "deno", "bun", "ruby", "perl", "rscript", "osascript":
			return last == 'e' || last == 'E'
		case "php":
			return last == 'r'
		}
	}
	return false
}

// appendOperandCandidates appends the words of an argument that may name a
// file.
func appendOperandCandidates(out []family.Field, base string, a family.Field) []family.Field {
	if a.Static && a.Val == "--" {
		return out
	}
	v := a.Val
	if eq := strings.IndexByte(v, '='); eq > 0 && eq < len(v)-1 {
		c := a
		c.Val = v[eq+1:]
		if c.Hint != "" {
			if he := strings.IndexByte(c.Hint, '='); he >= 0 {
				c.Hint = c.Hint[he+1:]
			}
		}
		out = append(out, c)
	}
	if strings.HasPrefix(v, "-") {
		return out
	}
	if base != "tar" && base != "zip" {
		return append(out, a)
	}
	lower := strings.ToLower(v)
	if base == "tar" && (strings.HasSuffix(lower, ".tar") || strings.HasSuffix(lower, ".tgz") || strings.HasSuffix(lower, ".tar.gz") || strings.HasSuffix(lower, ".zip")) {
		return out
	}
	if base == "zip" && strings.HasSuffix(lower, ".zip") {
		return out
	}
	return append(out, a)
}

// patternCommandTargets returns the files grep and rg read: not the pattern,
// but -f/--file arguments and every operand once a pattern came from an option.
func patternCommandTargets(args []family.Field) []family.Field {
	var out, positional []family.Field
	patternFromOption, files := false, false
	for i := 0; i < len(args); i++ {
		a := args[i]
		v := a.Val
		if v == "--" && a.Static {
			positional = append(positional, args[i+1:]...)
			break
		}
		if strings.HasPrefix(v, "--") {
			name, val, has := strings.Cut(v[2:], "=")
			switch name {
			case "file":
				patternFromOption = true
				if has {
					f := a
					f.Val = val
					out = append(out, f)
				} else if i+1 < len(args) {
					out = append(out, args[i+1])
					i++
				}
			case "regexp":
				patternFromOption = true
				if !has {
					i++
				}
			case "files":
				files = true
			case "after-context", "before-context", "context", "max-count":
				if !has {
					i++
				}
			}
			continue
		}
		if len(v) > 1 && v[0] == '-' {
			for j := 1; j < len(v); j++ {
				c := v[j]
				if strings.IndexByte("efABCm", c) < 0 {
					continue
				}
				if c == 'e' || c == 'f' {
					patternFromOption = true
				}
				rest := v[j+1:]
				var val family.Field
				if rest != "" {
					val = a
					val.Val = rest
				} else if i+1 < len(args) {
					val = args[i+1]
					i++
				}
				if c == 'f' {
					out = append(out, val)
				}
				break
			}
			continue
		}
		positional = append(positional, a)
	}
	if len(positional) > 0 && !patternFromOption && !files {
		positional = positional[1:]
	}
	return append(out, positional...)
}

// findSecretTargets returns the start paths of find, and with -exec {} the
// names it matches, since the exec command then reads them.
func findSecretTargets(args []family.Field) []family.Field {
	var out []family.Field
	i := 0
	for i < len(args) && !strings.HasPrefix(args[i].Val, "-") && args[i].Val != "(" && args[i].Val != "!" {
		out = append(out, args[i])
		i++
	}
	for j := i; j < len(args); j++ {
		v := args[j].Val
		if v != "-exec" && v != "-execdir" {
			continue
		}
		k := j + 1
		var cmd []family.Field
		for k < len(args) && args[k].Val != ";" && args[k].Val != "+" {
			cmd = append(cmd, args[k])
			k++
		}
		usesPlaceholder := false
		for idx, c := range cmd {
			if c.Val == "{}" {
				usesPlaceholder = true
				continue
			}
			if idx > 0 && !strings.HasPrefix(c.Val, "-") {
				out = append(out, c)
			}
		}
		if usesPlaceholder && len(cmd) > 0 && !nonPathOperandCmds[family.CommandBase(cmd[0].Val)] {
			for m := 0; m+1 < j; m++ {
				if findMatchPrimaries[args[m].Val] {
					v := args[m+1]
					out = append(out, v)
					t := v
					t.Val = strings.Trim(strings.TrimSuffix(strings.TrimPrefix(v.Val, "*/"), "/*"), "*")
					out = append(out, t)
				}
			}
		}
	}
	return out
}

// guardExplainCommandIndex returns the index of the command-text argument of
// a guard explain invocation (phantom guard check/explain, cc-safety-net
// explain), which only analyses that text; 0 when args are something else.
func guardExplainCommandIndex(args []family.Field) int {
	switch family.CommandBase(args[0].Val) {
	case "phantom", "cc-safety-net", "ccsn", "bunx", "npx", "pnpx", "bun", "node":
	default:
		return 0
	}
	v := family.Vals(args)
	i := 0
	base := family.CommandBase(v[0])
	switch {
	case base == "phantom":
		if len(v) > 2 && v[1] == "guard" && (v[2] == "check" || v[2] == "explain") {
			i = 3
		}
	case base == "cc-safety-net" || base == "ccsn":
		i = 1
	case base == "bunx" || base == "npx" || base == "pnpx":
		i = 1
		for i < len(v) && strings.HasPrefix(v[i], "-") {
			i++
		}
		if i >= len(v) || (v[i] != "cc-safety-net" && v[i] != "ccsn") {
			return 0
		}
		i++
	case base == "bun" || base == "node":
		i = 1
		if base == "bun" && i < len(v) && v[i] == "run" {
			i++
		}
		if i >= len(v) || (v[i] != "src/cli/cc-safety-net.ts" && v[i] != "dist/bin/cc-safety-net.js") {
			return 0
		}
		i++
	default:
		return 0
	}
	if base != "phantom" {
		if i >= len(v) || v[i] != "explain" {
			return 0
		}
		i++
	}
	// Skip options; their values stay candidates.
	for i < len(v) && strings.HasPrefix(v[i], "-") {
		if v[i] == "--cwd" || v[i] == "--mode" {
			i += 2
			continue
		}
		i++
	}
	if i >= len(v) {
		return 0
	}
	return i
}

// Index holds the home-anchored secret locations of one request,
// lower-cased and resolved once rather than for every candidate path.
type Index struct {
	HomeDirs  []Loc
	HomeExact map[string]string
	Creds     []Loc
	Configs   map[string]string
}

type Loc struct {
	Path, Real, What string
	Tree             bool // everything below path is covered too
}

// IndexTTL is how long resolved credential locations are reused.
// Resolving them costs dozens of system calls, about half of a simple
// check; the files they name rarely move, and a second is short.
const IndexTTL = time.Second

// Cache shares secret indexes between the checks of an Engine. The
// indexes are never modified once built.
type Cache struct {
	mu      sync.Mutex
	entries map[[2]string]secretCacheEntry
}

type secretCacheEntry struct {
	ix *Index
	at time.Time
}

func (c *Cache) Get(key [2]string, now time.Time) *Index {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.Sub(e.at) > IndexTTL || now.Before(e.at) {
		return nil
	}
	return e.ix
}

func (c *Cache) Put(key [2]string, ix *Index, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) >= 64 {
		c.entries = map[[2]string]secretCacheEntry{}
	}
	c.entries[key] = secretCacheEntry{ix: ix, at: now}
}

// quotedLiterals returns up to max string literals of code ('...', "..." or
// `...`, backslash escapes honoured), quotes included. It is a linear scan:
// a regular expression is too slow on the long code agents sometimes inline.
func quotedLiterals(code string, max int) []string {
	var out []string
	for i := 0; i < len(code) && len(out) < max; i++ {
		q := code[i]
		if q != '\'' && q != '"' && q != '`' {
			continue
		}
		j := i + 1
		for j < len(code) && code[j] != q {
			if code[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(code) {
			// Unclosed: not a literal; go on after the quote.
			continue
		}
		out = append(out, code[i:j+1])
		i = j
	}
	return out
}

func isPathWordByte(c byte) bool { return pathWordBytes[c] }

// pathWordBytes is the immutable table of bytes that make up bare paths.
var pathWordBytes = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_./~@+-", byte(c)) >= 0
	}
	return t
}()

// pathLikeWords returns up to max maximal runs of path characters that
// contain '.', '/' or '~': the bare paths in code.
func pathLikeWords(code string, max int) []string {
	var out []string
	for i := 0; i < len(code) && len(out) < max; {
		if !isPathWordByte(code[i]) {
			i++
			continue
		}
		j := i
		pathy := false
		for j < len(code) && isPathWordByte(code[j]) {
			pathy = pathy || code[j] == '.' || code[j] == '/' || code[j] == '~'
			j++
		}
		if pathy {
			out = append(out, code[i:j])
		}
		i = j
	}
	return out
}

var inlineAccessNamespaces = family.NameSet("bun", "child_process", "deno", "dotenv", "fs", "subprocess")

var inlineAccessParts = family.NameSet("append", "awk", "base64", "cat", "chmod", "chown", "connect", "copy", "cp", "database", "dd", "eval",
	"exec", "fetch", "file", "function", "grep", "head", "include", "load", "move", "mv", "open", "popen", "read", "remove", "rename",
	"require", "rg", "rm", "sed", "shell", "source", "spawn", "strings", "system", "tail", "tar", "truncate", "unlink", "write", "xxd", "zip")

var awkGetlineRe = regexp.MustCompile(`\bgetline(?:\s+[A-Za-z_][A-Za-z0-9_]*)?\s*<\s*"((?:\\.|[^"\\])*)"`)

func isPrintable(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || c == 0xfffd {
			return false
		}
	}
	return true
}

// maskJSLiterals blanks string and template literals; it fails on template
// interpolation or tagged templates, which may compute paths.
func maskJSLiterals(code string) (string, bool) {
	b := []byte(code)
	for i := 0; i < len(b); i++ {
		q := b[i]
		if q != '\'' && q != '"' && q != '`' {
			continue
		}
		if q == '`' {
			for j := i - 1; j >= 0; j-- {
				if b[j] == ' ' || b[j] == '\t' || b[j] == '\n' {
					continue
				}
				c := b[j]
				if c == '_' || c == '$' || c == ']' || c == ')' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
					return "", false
				}
				break
			}
		}
		b[i] = ' '
		closed := false
		for j := i + 1; j < len(b); j++ {
			c := b[j]
			b[j] = ' '
			if c == '\\' {
				j++
				if j < len(b) {
					b[j] = ' '
				}
				continue
			}
			if q == '`' && c == '$' && j+1 < len(code) && code[j+1] == '{' {
				return "", false
			}
			if q != '`' && (c == '\n' || c == '\r') {
				return "", false
			}
			if c == q {
				i = j
				closed = true
				break
			}
		}
		if !closed {
			return "", false
		}
	}
	return string(b), true
}

// jsIdentifiers returns the spans of JavaScript identifiers in code.
func jsIdentifiers(code string) [][2]int {
	var out [][2]int
	isStart := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$' }
	for i := 0; i < len(code); {
		if !isStart(code[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(code) && (isStart(code[j]) || code[j] >= '0' && code[j] <= '9') {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// jsAccess reports identifiers that touch files or processes.
func jsAccess(code string) bool {
	for _, loc := range jsIdentifiers(code) {
		id := code[loc[0]:loc[1]]
		if inlineAccessNamespaces[strings.ToLower(id)] {
			return true
		}
		parts := splitIdentifier(id)
		hit := false
		for _, p := range parts {
			if inlineAccessParts[p] {
				hit = true
			}
		}
		if !hit {
			continue
		}
		if len(parts) > 1 {
			return true
		}
		if prevNonSpace(code, loc[0]) == '.' || nextNonSpace(code, loc[1]) == '(' {
			return true
		}
	}
	return false
}

func splitIdentifier(id string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '_' || c == '$' {
			if cur.Len() > 0 {
				parts = append(parts, strings.ToLower(cur.String()))
				cur.Reset()
			}
			continue
		}
		if c >= 'A' && c <= 'Z' && i > 0 && ((id[i-1] >= 'a' && id[i-1] <= 'z') || (id[i-1] >= '0' && id[i-1] <= '9')) {
			parts = append(parts, strings.ToLower(cur.String()))
			cur.Reset()
		}
		cur.WriteByte(c)
	}
	if cur.Len() > 0 {
		parts = append(parts, strings.ToLower(cur.String()))
	}
	return parts
}

func prevNonSpace(s string, i int) byte {
	for j := i - 1; j >= 0; j-- {
		if s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			return s[j]
		}
	}
	return 0
}

func nextNonSpace(s string, i int) byte {
	for j := i; j < len(s); j++ {
		if s[j] != ' ' && s[j] != '\t' && s[j] != '\n' && s[j] != '\r' {
			return s[j]
		}
	}
	return 0
}

// appliesPatch recognises commands that apply a patch read from stdin.
func appliesPatch(base string, args []family.Field) bool {
	if base == "patch" {
		return true
	}
	if base != "git" {
		return false
	}
	for _, a := range args[1:] {
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		return a.Val == "apply" || a.Val == "am"
	}
	return false
}

// patchPaths returns the file names in the headers of a unified diff.
func patchPaths(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		var rest string
		switch {
		case strings.HasPrefix(line, "--- "), strings.HasPrefix(line, "+++ "):
			rest = line[4:]
		case strings.HasPrefix(line, "diff --git "):
			out = append(out, strings.Fields(line[len("diff --git "):])...)
			continue
		case strings.HasPrefix(line, "rename from "), strings.HasPrefix(line, "rename to "),
			strings.HasPrefix(line, "copy from "), strings.HasPrefix(line, "copy to "):
			_, rest, _ = strings.Cut(line, " ")
			_, rest, _ = strings.Cut(rest, " ")
		default:
			continue
		}
		if i := strings.IndexByte(rest, '\t'); i >= 0 {
			rest = rest[:i]
		}
		if rest = strings.TrimSpace(rest); rest != "" && rest != "/dev/null" {
			out = append(out, rest)
		}
	}
	return out
}
