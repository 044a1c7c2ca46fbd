package interp

import (
	"regexp"
	"strings"
	"sync"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// execCallRes match calls that run a shell command, per interpreter. The
// first argument of a match is extracted and judged as shell code. They are
// compiled on first use: `phantom guard hook` is a process per command, and
// most commands run no interpreter.
var execCallRes = sync.OnceValue(func() map[string]*regexp.Regexp {
	return map[string]*regexp.Regexp{
		"python":    regexp.MustCompile(`\b(?:os\.system|os\.popen|subprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)|commands\.getoutput|os\.exec[lv]p?e?|os\.spawn[lv]p?e?|pty\.spawn|asyncio\.create_subprocess_(?:shell|exec))\s*\(`),
		"node":      regexp.MustCompile(`(?:\b(?:execSync|execFileSync|spawnSync|execFile|spawn)|(?:child_process|\bcp|\)|\bproc|\bchildProcess)\s*\.\s*exec|(?:^|[^.\w$])exec|\bBun\s*\.\s*spawn(?:Sync)?|\bDeno\s*\.\s*run)\s*\(`),
		"ruby":      regexp.MustCompile(`(?:\b(?:Kernel\s*\.\s*)?(?:system|exec|spawn)|\bIO\s*\.\s*popen|\bOpen3\s*\.\s*\w+)\b\s*\(?`),
		"perl":      regexp.MustCompile(`\b(?:system|exec)\b\s*\(?`),
		"php":       regexp.MustCompile(`\b(?:system|exec|shell_exec|passthru|popen|proc_open)\s*\(`),
		"lua":       regexp.MustCompile(`\b(?:os\.execute|io\.popen)\s*\(`),
		"rscript":   regexp.MustCompile(`\bsystem2?\s*\(`),
		"osascript": regexp.MustCompile(`\bdo\s+shell\s+script\s+`),
	}
})

// execCallAnchors and deleteCallAnchors are substrings every match of the
// corresponding expression contains. Regular expressions are slow on long
// code; most code contains none of the anchors and skips them.
var execCallAnchors = map[string][]string{
	"python":    {"system", "popen", "subprocess", "getoutput", "exec", "spawn"},
	"node":      {"exec", "spawn", "Deno"},
	"ruby":      {"system", "exec", "spawn", "popen", "Open3"},
	"perl":      {"system", "exec"},
	"php":       {"system", "exec", "passthru", "popen", "proc_open"},
	"lua":       {"execute", "popen"},
	"rscript":   {"system"},
	"osascript": {"shell"},
}

var deleteCallAnchors = map[string][]string{
	"python": {"rmtree", "remove", "unlink", "rmdir", "send2trash"},
	"node":   {"rm", "unlink", "rimraf", "remove", "delete"},
	"ruby":   {"rm", "remove", "delete", "unlink", "rmtree", "rmdir"},
	"perl":   {"unlink", "rmtree", "remove_tree", "rmdir"},
	"php":    {"unlink", "rmdir"},
	"lua":    {"remove"},
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// qxMatches runs qxRe only when code can contain a qx or %x literal.
func qxMatches(code string) [][]string {
	if !strings.Contains(code, "qx") && !strings.Contains(code, "%x") {
		return nil
	}
	return qxRe.FindAllStringSubmatch(code, 16)
}

// deleteCallRes match library calls that delete files (compiled on first use).
var deleteCallRes = sync.OnceValue(func() map[string]*regexp.Regexp {
	return map[string]*regexp.Regexp{
		"python": regexp.MustCompile(`\b(?:shutil\s*\.\s*rmtree|os\s*\.\s*(?:remove|unlink|rmdir|removedirs)|send2trash|\.\s*(?:unlink|rmdir|rmtree)\s*\()\s*\(?`),
		"node":   regexp.MustCompile(`\b(?:rmSync|rmdirSync|unlinkSync|rimraf|fs(?:\s*\.\s*promises)?\s*\.\s*(?:rm|rmdir|unlink)|fsp\s*\.\s*(?:rm|rmdir|unlink)|Deno\s*\.\s*remove(?:Sync)?|Bun\s*\.\s*file\([^)]*\)\s*\.\s*delete)\s*\(`),
		"ruby":   regexp.MustCompile(`\b(?:FileUtils\s*\.\s*(?:rm_rf|rm_r|rm_f|rm|remove_dir|remove_entry|remove_entry_secure|rmtree|remove|rmdir)|File\s*\.\s*(?:delete|unlink)|Dir\s*\.\s*(?:rmdir|delete|unlink)|\.rmtree)\b`),
		"perl":   regexp.MustCompile(`\b(?:unlink|rmtree|remove_tree|rmdir)\b`),
		"php":    regexp.MustCompile(`\b(?:unlink|rmdir)\s*\(`),
		"lua":    regexp.MustCompile(`\bos\.remove\s*\(`),
	}
})

// backtickKinds are interpreters where `...` runs a shell command.
var backtickKinds = family.NameSet("ruby", "perl", "php")

// interpreterCode judges code run by an interpreter: read as shell (to
// catch a shell command passed to the wrong program), every shell command it
// runs through an exec-style call, library calls that delete files, and
// secrets it opens.
func interpreterCode(ctx Context, c *family.Call, kind, code string) *family.Finding {
	if !ctx.Step(c.Seg) {
		return ctx.Aborted()
	}
	if f := ctx.JudgeCodeAsShell(*c, code); f != nil {
		return f
	}
	for _, cmd := range extractExecCommands(kind, code) {
		if !cmd.Static {
			if f := ctx.Block(guard.RuleInterpreterDangerous, "Interpreter code runs a shell command built at run time ("+family.Clip(cmd.Src)+"); the engine cannot see what it runs.", c.Seg); f != nil {
				return f
			}
			continue
		}
		if inner := ctx.JudgeInherited(*c, cmd.Val); inner != nil {
			if inner.Rule == guard.RuleEngineDepth || inner.Rule == guard.RuleEngineBudget || inner.Rule == guard.RuleEngineTimeout {
				return inner
			}
			if f := ctx.Block(guard.RuleInterpreterDangerous, "Detected potentially dangerous command in interpreter code: "+inner.Reason, c.Seg); f != nil {
				return f
			}
		}
	}
	if re := deleteCallRes()[kind]; re != nil && containsAny(code, deleteCallAnchors[kind]) {
		if m := re.FindString(code); m != "" {
			if f := ctx.Block(guard.RuleInterpreterDangerous, "Interpreter code deletes files ("+strings.TrimSpace(strings.TrimRight(m, "( "))+"). Delete explicit paths with rm instead, so the guard can check them.", c.Seg); f != nil {
				return f
			}
		}
	}
	return secrets.InCode(ctx, c, kind, code)
}

// extractExecCommands returns the first argument of every exec-style call in
// code: a static field when it is a string literal (or a list of them).
func extractExecCommands(kind, code string) []family.Field {
	var out []family.Field
	if re := execCallRes()[kind]; re != nil && containsAny(code, execCallAnchors[kind]) {
		for _, loc := range re.FindAllStringIndex(code, 16) {
			out = append(out, firstLiteralArg(kind, code[loc[1]:]))
		}
	}
	if backtickKinds[kind] && strings.Contains(code, "`") {
		for _, m := range backtickRe.FindAllStringSubmatch(code, 16) {
			body := m[1]
			f := family.Lit(body)
			if strings.Contains(body, "#{") || strings.Contains(body, "$") {
				f.Static = false
			}
			f.Src = m[0]
			out = append(out, f)
		}
		for _, m := range qxMatches(code) {
			f := family.Lit(m[2])
			f.Src = m[0]
			if strings.Contains(m[2], "#{") || strings.Contains(m[2], "$") {
				f.Static = false
			}
			out = append(out, f)
		}
	}
	if (kind == "node" || kind == "bun") && strings.Contains(code, "$`") {
		for _, m := range bunShellRe.FindAllStringSubmatch(code, 16) {
			f := family.Lit(m[1])
			f.Src = m[0]
			if strings.Contains(m[1], "${") {
				f.Static = false
			}
			out = append(out, f)
		}
	}
	return out
}

var (
	backtickRe = regexp.MustCompile("`([^`]*)`")
	qxRe       = regexp.MustCompile(`(?:%x|qx)([({\[/|])((?:[^)}\]/|\\]|\\.)*)[)}\]/|]`)
	bunShellRe = regexp.MustCompile("\\$`([^`]*)`")
)

// firstLiteralArg parses the first argument of a call: a string literal, a
// list of string literals (joined like argv), or anything else (dynamic).
func firstLiteralArg(kind, s string) family.Field {
	s = strings.TrimLeft(s, " \t\n")
	src := s
	if len(src) > 80 {
		src = src[:80]
	}
	dyn := family.Field{Val: "…", Src: src}
	if s == "" {
		return dyn
	}
	if kind == "osascript" || s[0] == '"' || s[0] == '\'' || s[0] == '`' {
		str, rest, ok := readStringLiteral(kind, s)
		if !ok {
			return dyn
		}
		rest = strings.TrimLeft(rest, " \t")
		if strings.HasPrefix(rest, "+") || strings.HasPrefix(rest, ".") || strings.HasPrefix(rest, "%") && kind == "python" {
			return dyn
		}
		f := family.Lit(str.Val)
		f.Static = str.Static
		f.Src = src
		return f
	}
	if s[0] == '[' || s[0] == '(' && kind == "perl" {
		closer := byte(']')
		if s[0] == '(' {
			closer = ')'
		}
		var parts []string
		rest := s[1:]
		for {
			rest = strings.TrimLeft(rest, " \t\n,")
			if rest == "" {
				return dyn
			}
			if rest[0] == closer {
				break
			}
			str, r2, ok := readStringLiteral(kind, rest)
			if !ok || !str.Static {
				return dyn
			}
			parts = append(parts, shellQuote(str.Val))
			rest = r2
		}
		f := family.Lit(strings.Join(parts, " "))
		f.Src = src
		return f
	}
	if kind == "perl" || kind == "ruby" {
		// system "cmd", @args style: first literal then more args.
		if s[0] == 'q' {
			return dyn
		}
	}
	return dyn
}

// readStringLiteral reads a quoted literal at the start of s; the result is
// dynamic when the literal interpolates (f-strings, template literals, ...).
func readStringLiteral(kind, s string) (family.Field, string, bool) {
	if s == "" {
		return family.Field{}, s, false
	}
	prefix := ""
	for len(s) > 0 && strings.IndexByte("rRbBuUfF", s[0]) >= 0 && kind == "python" {
		prefix += s[:1]
		s = s[1:]
	}
	if s == "" {
		return family.Field{}, s, false
	}
	q := s[0]
	if q != '"' && q != '\'' && q != '`' {
		return family.Field{}, s, false
	}
	triple := kind == "python" && strings.HasPrefix(s, strings.Repeat(string(q), 3))
	end := string(q)
	body := s[1:]
	if triple {
		end = strings.Repeat(string(q), 3)
		body = s[3:]
	}
	var b strings.Builder
	static := true
	raw := strings.ContainsAny(prefix, "rR")
	for i := 0; i < len(body); i++ {
		if strings.HasPrefix(body[i:], end) {
			if strings.ContainsAny(prefix, "fF") && strings.Contains(b.String(), "{") {
				static = false
			}
			if q == '`' && strings.Contains(b.String(), "${") {
				static = false
			}
			if q == '"' && (kind == "ruby" && strings.Contains(b.String(), "#{") || (kind == "perl" || kind == "php") && strings.Contains(b.String(), "$")) {
				static = false
			}
			f := family.Lit(b.String())
			f.Static = static
			return f, body[i+len(end):], true
		}
		c := body[i]
		if c == '\\' && i+1 < len(body) && !raw {
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(body[i])
			}
			continue
		}
		b.WriteByte(c)
	}
	return family.Field{}, "", false
}

// shellQuote quotes s for re-reading as one shell word.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`;&|<>(){}*?[]#~!") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
