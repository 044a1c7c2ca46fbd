package policy

import (
	"encoding/base64"
	"path/filepath"
	"strings"
	"unicode/utf16"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// psToken is one PowerShell word with what the engine knows about its value.
type psToken struct {
	text   string // value with quotes and escapes removed
	static bool
	quoted bool
	sub    []string // $(...) subexpressions inside
	block  string   // the body when the token is a script block { ... }
	op     string   // ";", "|", "&&", "||", "&", "." (call) when the token is an operator
	comma  bool     // a bare comma list such as a,b
}

// psLexer is a small PowerShell tokenizer: comments (# and nested <# #>),
// single and double quoted strings, backtick escapes, $(...) subexpressions,
// script blocks and statement separators.
type psLexer struct {
	src   []rune
	i     int
	depth int
	err   string
}

const maxPSNesting = 32

func lexPowerShell(src string) ([]psToken, string) {
	l := &psLexer{src: []rune(src)}
	toks := l.tokens(0)
	return toks, l.err
}

func (l *psLexer) tokens(close rune) []psToken {
	var out []psToken
	for l.i < len(l.src) && l.err == "" {
		c := l.src[l.i]
		switch {
		case close != 0 && c == close:
			l.i++
			return out
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\n' || c == ';':
			out = append(out, psToken{op: ";"})
			l.i++
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == '<' && l.peek(1) == '#':
			l.blockComment()
		case c == '|' && l.peek(1) == '|':
			out = append(out, psToken{op: "||"})
			l.i += 2
		case c == '&' && l.peek(1) == '&':
			out = append(out, psToken{op: "&&"})
			l.i += 2
		case c == '|':
			out = append(out, psToken{op: "|"})
			l.i++
		case (c == '&' || c == '.') && (l.peek(1) == ' ' || l.peek(1) == '{' || l.peek(1) == '\'' || l.peek(1) == '"') && (len(out) == 0 || out[len(out)-1].op != ""):
			out = append(out, psToken{op: "call"})
			l.i++
		case c == '{':
			l.i++
			start := l.i
			l.depth++
			if l.depth > maxPSNesting {
				l.err = "depth"
				return out
			}
			l.tokens('}')
			l.depth--
			end := l.i - 1
			if end < start {
				end = start
			}
			out = append(out, psToken{block: string(l.src[start:end]), static: true})
		case c == '}' || c == ')':
			// Unbalanced closer: skip it.
			l.i++
		case c == '(':
			l.i++
			l.depth++
			if l.depth > maxPSNesting {
				l.err = "depth"
				return out
			}
			inner := l.tokens(')')
			l.depth--
			out = append(out, psToken{op: ";"})
			out = append(out, inner...)
			out = append(out, psToken{op: ";"})
		default:
			before := l.i
			out = append(out, l.word())
			if l.i == before {
				l.i++
			}
		}
	}
	return out
}

func (l *psLexer) peek(n int) rune {
	if l.i+n < len(l.src) {
		return l.src[l.i+n]
	}
	return 0
}

func (l *psLexer) blockComment() {
	depth := 0
	for l.i < len(l.src) {
		if l.src[l.i] == '<' && l.peek(1) == '#' {
			depth++
			if depth > maxPSNesting {
				l.err = "depth"
				return
			}
			l.i += 2
			continue
		}
		if l.src[l.i] == '#' && l.peek(1) == '>' {
			depth--
			l.i += 2
			if depth == 0 {
				return
			}
			continue
		}
		l.i++
	}
	l.err = "unclosed comment"
}

// word reads one argument word, which may mix bare text, quotes and variables.
func (l *psLexer) word() psToken {
	t := psToken{static: true}
	var b strings.Builder
	braces := 0
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '{':
			braces++
			b.WriteRune(c)
			l.i++
		case c == '}' && braces > 0:
			braces--
			b.WriteRune(c)
			l.i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '|' || c == ')' || c == '}':
			t.text = b.String()
			return t
		case c == '&' && l.peek(1) == '&':
			t.text = b.String()
			return t
		case c == '#' && b.Len() == 0:
			t.text = b.String()
			return t
		case c == '`':
			if l.i+1 < len(l.src) {
				b.WriteRune(l.src[l.i+1])
			}
			l.i += 2
		case c == '\'':
			t.quoted = true
			l.i++
			for l.i < len(l.src) {
				if l.src[l.i] == '\'' {
					if l.peek(1) == '\'' {
						b.WriteRune('\'')
						l.i += 2
						continue
					}
					l.i++
					break
				}
				b.WriteRune(l.src[l.i])
				l.i++
			}
		case c == '"':
			t.quoted = true
			l.i++
			for l.i < len(l.src) && l.src[l.i] != '"' {
				d := l.src[l.i]
				if d == '`' && l.i+1 < len(l.src) {
					b.WriteRune(l.src[l.i+1])
					l.i += 2
					continue
				}
				if d == '$' {
					if l.peek(1) == '(' {
						t.sub = append(t.sub, l.subexpr())
						t.static = false
						b.WriteString("$(…)")
						continue
					}
					if isPSVarStart(l.peek(1)) {
						b.WriteString(l.variable())
						t.static = false
						continue
					}
				}
				b.WriteRune(d)
				l.i++
			}
			if l.i < len(l.src) {
				l.i++
			}
		case c == '$' && l.peek(1) == '(':
			t.sub = append(t.sub, l.subexpr())
			t.static = false
			b.WriteString("$(…)")
		case (c == '$' || c == '@') && isPSVarStart(l.peek(1)):
			b.WriteString(l.variable())
			t.static = false
		case c == ',' && b.Len() > 0:
			t.comma = true
			b.WriteRune(c)
			l.i++
		default:
			b.WriteRune(c)
			l.i++
		}
	}
	t.text = b.String()
	return t
}

func isPSVarStart(r rune) bool {
	return r == '_' || r == '{' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

func (l *psLexer) variable() string {
	start := l.i
	l.i++
	if l.i < len(l.src) && l.src[l.i] == '{' {
		for l.i < len(l.src) && l.src[l.i] != '}' {
			l.i++
		}
		l.i++
		return string(l.src[start:min(l.i, len(l.src))])
	}
	for l.i < len(l.src) {
		r := l.src[l.i]
		if r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			l.i++
			continue
		}
		break
	}
	return string(l.src[start:l.i])
}

// subexpr reads $( ... ) and returns its body, even when unclosed.
func (l *psLexer) subexpr() string {
	l.i += 2
	start := l.i
	depth := 1
	inS, inD := false, false
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case inS:
			if c == '\'' {
				inS = false
			}
		case inD:
			if c == '"' {
				inD = false
			}
		case c == '\'':
			inS = true
		case c == '"':
			inD = true
		case c == '(':
			depth++
			if depth > maxPSNesting*2 {
				l.err = "depth"
				return ""
			}
		case c == ')':
			depth--
			if depth == 0 {
				body := string(l.src[start:l.i])
				l.i++
				return body
			}
		}
		l.i++
	}
	return string(l.src[start:])
}

// judgePowerShell judges a PowerShell command line.
func (r *run) judgePowerShell(src string, depth int) *family.Finding {
	if !r.step(src) {
		return r.abort
	}
	if depth >= r.eng.maxDepth {
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	}
	toks, perr := lexPowerShell(src)
	switch perr {
	case "depth":
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	case "":
	default:
		if r.mode.Has(guard.ModeStrict) || r.req.Shell == ShellAuto {
			return &family.Finding{Rule: guard.RuleEngineUnparsable, Segment: src, Reason: reasonStrictUnparsable}
		}
	}
	var cmd []psToken
	pipedInput := false
	flush := func(next string) *family.Finding {
		defer func() { cmd = nil }()
		if len(cmd) == 0 {
			return nil
		}
		f := r.psCommand(src, cmd, pipedInput, depth)
		pipedInput = next == "|"
		return f
	}
	for _, t := range toks {
		if t.op == "call" {
			continue
		}
		if t.op != "" {
			if f := flush(t.op); f != nil {
				return f
			}
			continue
		}
		cmd = append(cmd, t)
	}
	return flush("")
}

// psCommand judges one PowerShell command.
func (r *run) psCommand(src string, cmd []psToken, piped bool, depth int) *family.Finding {
	for _, t := range cmd {
		for _, s := range t.sub {
			if f := r.judgePowerShell(s, depth+1); f != nil {
				return f
			}
		}
	}
	head := cmd[0]
	if head.block != "" && head.text == "" {
		return r.judgePowerShell(head.block, depth+1)
	}
	if !head.static {
		if r.mode.Has(guard.ModeStrict) {
			return r.block(guard.RuleDynamicCommandName, "The PowerShell command name is not static; write it literally.", src)
		}
		return nil
	}
	name := strings.ToLower(head.text)
	args := cmd[1:]
	switch name {
	case "remove-item", "ri", "rm", "del", "erase", "rd", "rmdir":
		texts := make([]string, len(args))
		fields := make([]family.Field, len(args))
		for i, a := range args {
			texts[i] = a.text
			fields[i] = family.Field{Val: a.text, Static: a.static, Src: a.text}
		}
		return r.psRemoveItem(src, texts, fields, piped)
	case "iex", "invoke-expression":
		for i := 0; i < len(args); i++ {
			a := args[i]
			if strings.HasPrefix(strings.ToLower(a.text), "-command") || strings.HasPrefix(strings.ToLower(a.text), "-c") && !a.quoted {
				continue
			}
			if !a.static {
				return r.block(guard.RuleDynamicScript, "Invoke-Expression runs code the engine cannot see; shell execution source cannot be verified.", src)
			}
			return r.judgePowerShell(a.text, depth+1)
		}
		return nil
	case "invoke-command", "icm":
		for _, a := range args {
			if a.block != "" {
				if f := r.judgePowerShell(a.block, depth+1); f != nil {
					return f
				}
			}
		}
		return nil
	}
	// Anything else: judge it with the POSIX rules (git, rm -rf, ...).
	fields := make([]family.Field, 0, len(cmd))
	for _, t := range cmd {
		if t.block != "" && t.text == "" {
			if f := r.judgePowerShell(t.block, depth+1); f != nil {
				return f
			}
			continue
		}
		fields = append(fields, family.Field{Val: t.text, Static: t.static, Src: t.text})
	}
	if len(fields) == 0 {
		return nil
	}
	sc := r.rootScope()
	sc.depth = depth
	cc := &cmdCall{Call: family.Call{Args: fields, Cwd: r.origCwd, Seg: src}, sc: sc}
	return r.analyzeCall(cc)
}

// psParam matches a PowerShell parameter name or unambiguous prefix.
func psParam(arg, name string, minLen int) (bool, string) {
	a := strings.ToLower(arg)
	if !strings.HasPrefix(a, "-") {
		return false, ""
	}
	p, val, _ := strings.Cut(a[1:], ":")
	return len(p) >= minLen && strings.HasPrefix(name, p), val
}

// psRemoveItem judges Remove-Item and its aliases.
func (r *run) psRemoveItem(src string, texts []string, args []family.Field, piped bool) *family.Finding {
	recurse, force, whatif, missingPath := false, false, false, false
	var targets []family.Field
	past := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		t := texts[i]
		if !past && strings.HasPrefix(t, "-") {
			// -WhatIf (alias -wi), possibly -WhatIf:$value: only a literal
			// $false turns the dry run off.
			name, v, _ := strings.Cut(strings.ToLower(t[1:]), ":")
			if name == "wi" || (len(name) >= 2 && strings.HasPrefix("whatif", name)) {
				whatif = v != "$false" && v != "0"
				continue
			}
		}
		if past || !strings.HasPrefix(t, "-") || !a.Static {
			targets = append(targets, splitPSList(a)...)
			continue
		}
		if t == "--" {
			past = true
			continue
		}
		if ok, _ := psParam(t, "recurse", 1); ok {
			recurse = true
			continue
		}
		if ok, _ := psParam(t, "force", 2); ok {
			force = true
			continue
		}
		if ok, v := psParam(t, "whatif", 2); ok {
			whatif = v != "$false"
			continue
		}
		if ok, v := psParam(t, "path", 1); ok || strings.HasPrefix(strings.ToLower(t), "-literalpath") || strings.HasPrefix(strings.ToLower(t), "-lp") {
			if v != "" || strings.Contains(t, ":") {
				_, after, _ := strings.Cut(t, ":")
				targets = append(targets, splitPSList(family.Field{Val: after, Static: a.Static})...)
				continue
			}
			if i+1 < len(args) {
				targets = append(targets, splitPSList(args[i+1])...)
				i++
			} else {
				missingPath = true
			}
			continue
		}
		for _, name := range []string{"-filter", "-include", "-exclude", "-credential", "-stream"} {
			if strings.HasPrefix(strings.ToLower(t), name) && !strings.Contains(t, ":") {
				i++
				break
			}
		}
		// Unix-style flags (rm -rf) on the rm alias: judge like POSIX rm.
		if strings.Contains(t[1:], "r") && strings.Contains(t[1:], "f") && !strings.Contains(t, ":") {
			recurse, force = true, true
		}
	}
	if whatif {
		return nil
	}
	for _, t := range targets {
		if f := r.psGitMetadata(t, force, recurse, src); f != nil {
			return f
		}
		if r.psRootOrHome(t) {
			if recurse && force {
				return r.block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
			}
			return r.block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
		}
	}
	if !recurse || !force {
		if piped && len(targets) == 0 && (r.mode.Has(guard.ModeStrict) || r.req.Policy.RuleSwitches[guard.RulePSPipeline]) {
			return r.block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
		}
		return nil
	}
	if missingPath && len(targets) == 0 {
		// PowerShell would prompt for the path; strict mode does not guess.
		return r.block(guard.RulePSDynamicTarget, "PowerShell Remove-Item has no literal target (missing -Path value); it cannot be verified safely.", src)
	}
	if len(targets) == 0 && piped {
		return r.block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
	}
	for _, t := range targets {
		if f := r.psClassify(t, src); f != nil {
			return f
		}
	}
	return nil
}

// splitPSList splits a bare comma list (a,b) into its items.
func splitPSList(a family.Field) []family.Field {
	if !strings.Contains(a.Val, ",") || !a.Static {
		return []family.Field{a}
	}
	var out []family.Field
	for _, p := range strings.Split(a.Val, ",") {
		out = append(out, family.Field{Val: p, Static: true, Src: p})
	}
	return out
}

func psNormalize(p string) string { return strings.ReplaceAll(p, `\`, "/") }

func (r *run) psRootOrHome(t family.Field) bool {
	v := strings.ToLower(psNormalize(strings.TrimSpace(t.Val)))
	for _, h := range []string{"$home", "$env:userprofile", "$env:home", "${home}", "~"} {
		if v == h || v == h+"/" || v == h+"/*" {
			return true
		}
	}
	if v == "/" || v == "/*" || (len(v) >= 2 && len(v) <= 4 && v[1] == ':' && strings.Trim(v[2:], "/*") == "") {
		return true
	}
	if !t.Static {
		return false
	}
	f := family.Field{Val: psNormalize(t.Val), Static: true}
	cc := &cmdCall{Call: family.Call{Cwd: r.origCwd}}
	return r.isRootOrHome(cc, f)
}

func (r *run) psGitMetadata(t family.Field, force, recurse bool, src string) *family.Finding {
	if !t.Static || r.origCwd == "" {
		return nil
	}
	v := psNormalize(t.Val)
	abs := v
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(r.origCwd, abs)
	}
	if hasGlobMeta(filepath.Base(abs)) && force {
		// -Force includes hidden items, so * matches .git.
		dir := r.realPath(filepath.Dir(abs))
		protected, _ := r.gitProtected(r.origCwd)
		for _, p := range protected {
			if filepath.Dir(p) == dir {
				if ok, _ := filepath.Match(filepath.Base(abs), filepath.Base(p)); ok {
					return r.block(guard.RulePSGitMetadata, reasonGitMetadata, src)
				}
			}
		}
	}
	if r.touchesGitMetadata(r.origCwd, abs, v, hasGlobMeta(v), recurse) {
		return r.block(guard.RulePSGitMetadata, reasonGitMetadata, src)
	}
	return nil
}

func (r *run) psClassify(t family.Field, src string) *family.Finding {
	if !t.Static {
		return r.block(guard.RulePSDynamicTarget, "PowerShell Remove-Item -Recurse -Force target cannot be resolved statically ("+t.Val+"); write the path literally.", src)
	}
	v := psNormalize(t.Val)
	if r.isTempPath(v) {
		return nil
	}
	abs := v
	if !filepath.IsAbs(abs) {
		if r.origCwd == "" {
			return r.block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
		}
		abs = filepath.Join(r.origCwd, abs)
	}
	resolved := r.resolveTarget(abs, v)
	for _, ap := range r.allowPaths {
		if r.usableAllowPath(ap) && within(resolved, r.realPath(ap)) {
			return nil
		}
	}
	if r.origCwd == "" {
		return r.block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
	}
	anchor := r.realPath(r.origCwd)
	if r.home != "" && anchor == r.realPath(r.home) {
		return r.block(guard.RulePSHomeCwd, "PowerShell Remove-Item -Recurse -Force in the home directory is dangerous. Change to a project directory first.", src)
	}
	if v == "." || v == "./" || resolved == anchor {
		return r.block(guard.RulePSCwdSelf, "PowerShell Remove-Item -Recurse -Force of the current directory is blocked.", src)
	}
	if strictlyWithin(resolved, anchor) {
		if r.mode.Has(guard.ModeParanoidRm) || r.req.Policy.RuleSwitches[guard.RulePSParanoid] {
			return r.block(guard.RulePSParanoid, "PowerShell Remove-Item -Recurse -Force is blocked in paranoid rm mode.", src)
		}
		return nil
	}
	return r.block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
}

// psRemoveItemArgs judges Remove-Item written in a POSIX command line.
func (r *run) psRemoveItemArgs(cc *cmdCall, texts []string, args []family.Field, piped bool) *family.Finding {
	return r.psRemoveItem(cc.Seg, texts, args, piped)
}

// analyzePwshLauncher judges pwsh/powershell -Command and -EncodedCommand.
func (r *run) analyzePwshLauncher(cc *cmdCall) *family.Finding {
	args := cc.Args
	for i := 1; i < len(args); i++ {
		a := strings.ToLower(args[i].Val)
		switch {
		case a == "-command" || a == "-c" || a == "/c":
			rest := family.JoinFields(args[i+1:], " ")
			if !rest.Static {
				return r.block(guard.RuleDynamicScript, "pwsh -Command runs code the engine cannot see.", cc.Seg)
			}
			return r.judgePowerShell(rest.Val, cc.sc.depth+1)
		case a == "-encodedcommand" || a == "-enc" || a == "-e" || a == "-ec":
			if i+1 >= len(args) || !args[i+1].Static {
				return r.block(guard.RuleDynamicScript, "pwsh -EncodedCommand runs code the engine cannot see.", cc.Seg)
			}
			code, ok := decodePSEncoded(args[i+1].Val)
			if !ok {
				return r.block(guard.RuleDynamicScript, "pwsh -EncodedCommand carries code the engine cannot decode.", cc.Seg)
			}
			return r.judgePowerShell(code, cc.sc.depth+1)
		case a == "-file" || a == "-f":
			return nil
		}
	}
	return nil
}

func decodePSEncoded(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), true
}
