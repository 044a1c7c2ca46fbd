package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
)

// field is one argument after the shell's expansions, as far as the engine
// can compute it.
type field struct {
	// val is the expanded text; parts the engine cannot resolve are rendered as
	// markers such as "$NAME", "$(…)" or "`…`" so that rules can still see the
	// shape of the word.
	val string
	// static is true when val is the exact value the shell would produce.
	static bool
	// glob marks unquoted glob metacharacters.
	glob bool
	// subst marks a command or process substitution in the word.
	subst bool
	// param marks a parameter expansion (resolved or not).
	param bool
	// vars lists the parameters expanded into the field.
	vars []string
	// input marks values controlled by xargs or parallel input.
	input bool
	// spaced marks literal (source) whitespace inside the word, as in
	// 'rm -rf /'; expansions that contain whitespace do not set it.
	spaced bool
	// hint is a best-effort value for secret scanning when the field is not
	// static (the default of ${X:-.env}, a decoded base64 literal, ...).
	hint string
	// proc is the process substitution the field stands for, if any.
	proc *syntax.ProcSubst
	// posOnly marks a field made only of positional parameters ($1, "$@").
	posOnly bool
	// mark is the carrier placeholder ("{}") an input field was built from.
	mark string
	// ifsSplit marks a field split by a custom IFS: path rules do not
	// trust such splitting and treat the field as unresolved.
	ifsSplit bool
	// src is the source text of the word.
	src string
}

func lit(s string) field { return field{val: s, static: true, src: s} }

// chunk is a piece of a word before field splitting.
type chunk struct {
	text     string
	quoted   bool // inside quotes: never split, never globbed
	dyn      bool // not statically known
	split    bool // result of an unquoted expansion: subject to field splitting
	brk      bool // field break ("$@")
	glob     bool
	subst    bool
	param    bool
	spaced   bool
	varName  string
	hint     string
	proc     *syntax.ProcSubst
	fromPos  bool
	fromIn   bool
	emptyArg bool // "$@" with no parameters: contributes no field
}

type evalMode uint8

const (
	evalArg     evalMode = iota // command argument: split and glob
	evalQuoted                  // here-string, case word, pattern: no split
	evalAssign                  // assignment value: no split, leading tilde expands
	evalHeredoc                 // unquoted heredoc body
)

// srcOf returns the source text of node n within the script being walked.
func srcOf(sc *scope, n syntax.Node) string {
	if n == nil || sc.src == "" {
		return ""
	}
	s, e := int(n.Pos().Offset()), int(n.End().Offset())
	if s < 0 || e > len(sc.src) || s > e {
		return ""
	}
	return sc.src[s:e]
}

// evalWords expands command arguments.
func (r *run) evalWords(ws []*syntax.Word, sc *scope) ([]field, *finding) {
	if len(ws) == 1 {
		fs, f := r.evalWord(ws[0], sc, evalArg)
		return fs, f
	}
	// Collect first and copy once: "$@" can multiply the word count, and
	// growing a slice of fields step by step costs more than the expansion.
	parts := make([][]field, 0, len(ws))
	total := 0
	for _, w := range ws {
		fs, f := r.evalWord(w, sc, evalArg)
		if f != nil {
			return nil, f
		}
		parts = append(parts, fs)
		total += len(fs)
		if total > maxCommandFields {
			r.abort = &finding{rule: guard.RuleEngineBudget, segment: srcOf(sc, w),
				reason: "The command expands to more than 16384 words and cannot be judged safely; shorten its argument list."}
			return nil, r.abort
		}
	}
	out := make([]field, 0, total)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// maxCommandFields bounds the words one command line may expand to ("$@"
// repeated, brace expansions): every rule looks at every word.
const maxCommandFields = 16384

// evalWord expands one word. Substitutions inside it are judged as commands in
// a subshell scope; a blocking finding there is returned.
func (r *run) evalWord(w *syntax.Word, sc *scope, mode evalMode) ([]field, *finding) {
	if w == nil {
		return nil, nil
	}
	src := srcOf(sc, w)
	if !r.step(src) {
		return nil, r.abort
	}
	if mode == evalArg && len(w.Parts) == 1 {
		// Fast path for the common plain word: long commands are mostly
		// made of them.
		if l, ok := w.Parts[0].(*syntax.Lit); ok && !strings.HasPrefix(l.Value, "~") && !(strings.Contains(l.Value, "{") && strings.Contains(l.Value, "}")) {
			t, g := unescapeUnquoted(l.Value)
			return []field{{val: t, static: true, glob: g, spaced: strings.ContainsAny(t, " \t\n"), src: src}}, nil
		}
	}
	if mode == evalArg && hasBraceCandidate(w) {
		alts := expandBraces(w, 256)
		if alts == nil {
			// Too many alternatives to follow: a dynamic field.
			return []field{{val: src, src: src, glob: true}}, nil
		}
		if len(alts) > 1 || alts[0] != w {
			var out []field
			for _, a := range alts {
				// Bash expands braces once: the results are not expanded again
				// (".\{dist}" must not loop).
				fs, f := r.expandWord(a, sc, mode, src)
				if f != nil {
					return nil, f
				}
				for i := range fs {
					fs[i].src = src
				}
				out = append(out, fs...)
			}
			return out, nil
		}
	}
	return r.expandWord(w, sc, mode, src)
}

// expandWord is evalWord after brace expansion.
func (r *run) expandWord(w *syntax.Word, sc *scope, mode evalMode, src string) ([]field, *finding) {
	if !r.step(src) {
		return nil, r.abort
	}
	var chunks []chunk
	f := r.wordChunks(w.Parts, sc, mode, false, true, &chunks)
	if f != nil {
		return nil, f
	}
	fields := splitChunks(chunks, mode, r.ifs(sc))
	for i := range fields {
		fields[i].src = src
	}
	return fields, nil
}

// evalString expands a word without field splitting and joins the result,
// for assignment values, here-strings and heredoc bodies.
func (r *run) evalString(w *syntax.Word, sc *scope, mode evalMode) (field, *finding) {
	fs, f := r.evalWord(w, sc, mode)
	if f != nil {
		return field{}, f
	}
	return joinFields(fs, " "), nil
}

func joinFields(fs []field, sep string) field {
	if len(fs) == 0 {
		return field{static: true}
	}
	if len(fs) == 1 {
		return fs[0]
	}
	out := field{static: true}
	var vals, hints []string
	for _, f := range fs {
		vals = append(vals, f.val)
		hints = append(hints, f.hintOrVal())
		out.static = out.static && f.static
		out.glob = out.glob || f.glob
		out.subst = out.subst || f.subst
		out.param = out.param || f.param
		out.input = out.input || f.input
		out.spaced = out.spaced || f.spaced
		out.vars = append(out.vars, f.vars...)
		out.src = f.src
	}
	out.val = strings.Join(vals, sep)
	if !out.static {
		out.hint = strings.Join(hints, sep)
	}
	return out
}

func (f field) hintOrVal() string {
	if f.hint != "" {
		return f.hint
	}
	return f.val
}

func (r *run) ifs(sc *scope) string {
	v, ok := sc.vars["IFS"]
	switch {
	case !ok:
		return " \t\n"
	case !v.known:
		return unknownIFS
	case !v.set:
		return " \t\n"
	}
	return v.val
}

// unknownIFS stands for an IFS the engine cannot compute; a NUL byte cannot
// be part of a real IFS.
const unknownIFS = "\x00"

func (r *run) wordChunks(parts []syntax.WordPart, sc *scope, mode evalMode, quoted, first bool, out *[]chunk) *finding {
	for i, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			text := p.Value
			if !quoted && (mode == evalArg || mode == evalAssign) && i == 0 && first && strings.HasPrefix(text, "~") {
				c, rest, ok := r.tilde(text, sc)
				*out = append(*out, c)
				if !ok {
					continue
				}
				text = rest
			}
			switch {
			case quoted || mode == evalHeredoc:
				*out = append(*out, chunk{text: unescapeDouble(text, mode == evalHeredoc), quoted: true})
			default:
				t, g := unescapeUnquoted(text)
				*out = append(*out, chunk{text: t, glob: g, spaced: strings.ContainsAny(t, " \t\n")})
			}
		case *syntax.SglQuoted:
			if p.Dollar {
				s, ok := decodeANSIC(p.Value)
				if !ok {
					*out = append(*out, chunk{text: "$'" + p.Value + "'", quoted: true, dyn: true})
					continue
				}
				*out = append(*out, chunk{text: s, quoted: true, spaced: strings.ContainsAny(s, " \t\n\u2028\u2029")})
				continue
			}
			*out = append(*out, chunk{text: p.Value, quoted: true, spaced: strings.ContainsAny(p.Value, " \t\n\u2028\u2029")})
		case *syntax.DblQuoted:
			var inner []chunk
			if f := r.wordChunks(p.Parts, sc, mode, true, false, &inner); f != nil {
				return f
			}
			if len(inner) == 0 {
				*out = append(*out, chunk{quoted: true})
			}
			for _, c := range inner {
				c.quoted = true
				c.split = false
				if !c.dyn && !c.brk {
					c.spaced = c.spaced || (!c.param && strings.ContainsAny(c.text, " \t\n\u2028\u2029"))
				}
				*out = append(*out, c)
			}
		case *syntax.ParamExp:
			cs, f := r.paramChunks(p, sc, quoted || mode != evalArg)
			if f != nil {
				return f
			}
			*out = append(*out, cs...)
		case *syntax.CmdSubst:
			if f := r.backtickHeredoc(p, sc); f != nil {
				return f
			}
			if f := r.walkSubst(p.Stmts, sc); f != nil {
				return f
			}
			marker := "$(…)"
			if p.Backquotes {
				marker = "`…`"
			}
			c := chunk{text: marker, dyn: true, subst: true, split: !quoted && mode == evalArg}
			if out := staticSubstOutput(p.Stmts, sc); out != nil {
				c.hint = *out
			}
			*out = append(*out, c)
		case *syntax.ArithmExp:
			if f := r.walkArithm(p.X, sc); f != nil {
				return f
			}
			*out = append(*out, chunk{text: "$((…))", dyn: true, split: !quoted && mode == evalArg})
		case *syntax.ProcSubst:
			if f := r.walkProcSubst(p, sc); f != nil {
				return f
			}
			*out = append(*out, chunk{text: "/dev/fd/63", proc: p, subst: true})
		case *syntax.ExtGlob:
			*out = append(*out, chunk{text: p.Op.String() + p.Pattern.Value + ")", glob: true})
		case *syntax.BraceExp:
			// Left unexpanded (quoted context or too many alternatives).
			*out = append(*out, chunk{text: "{…}", glob: true})
		default:
			*out = append(*out, chunk{text: "…", dyn: true})
		}
	}
	return nil
}

// tilde performs tilde expansion at the start of an unquoted word.
func (r *run) tilde(text string, sc *scope) (chunk, string, bool) {
	end := strings.IndexByte(text, '/')
	if end < 0 {
		end = len(text)
	}
	user := text[1:end]
	if user != "" {
		return chunk{text: text[:end], dyn: true}, text[end:], true
	}
	if v, ok := sc.lookup("HOME"); ok && v.set && v.val != "" {
		return chunk{text: v.val, param: true, varName: "HOME"}, text[end:], true
	}
	return chunk{text: "~", dyn: true, varName: "HOME"}, text[end:], true
}

// paramChunks expands a parameter expansion.
func (r *run) paramChunks(p *syntax.ParamExp, sc *scope, quoted bool) ([]chunk, *finding) {
	name := ""
	if p.Param != nil {
		name = p.Param.Value
	}
	marker := "$" + name
	if !p.Short {
		marker = "${" + name + "}"
	}
	dyn := chunk{text: "$" + name, dyn: true, param: true, varName: name, split: !quoted}
	if p.Excl || p.Length || p.Width || p.Index != nil || p.Slice != nil || p.Repl != nil || p.Names != 0 || p.NestedParam != nil {
		dyn.text = marker
		if p.Repl != nil || p.Slice != nil {
			if f := r.walkParamWords(p, sc); f != nil {
				return nil, f
			}
		}
		return []chunk{dyn}, nil
	}
	switch name {
	case "@", "*":
		if !sc.posKnown {
			return []chunk{dyn}, nil
		}
		cs := make([]chunk, 0, 2*len(sc.pos))
		if name == "*" && quoted && sc.posInput {
			c := dyn
			c.fromIn, c.fromPos = true, true
			return []chunk{c}, nil
		}
		if name == "*" && quoted {
			sep := " "
			if ifs := r.ifs(sc); ifs == unknownIFS {
				dyn.fromPos = true
				return []chunk{dyn}, nil
			} else if ifs != "" {
				sep = ifs[:1]
			} else if ifs == "" {
				sep = ""
			}
			var parts []string
			c := chunk{param: true, varName: name, fromPos: true}
			for _, f := range sc.pos {
				parts = append(parts, f.val)
				if !f.static {
					c.dyn = true
				}
				c.fromIn = c.fromIn || f.input
			}
			c.text = strings.Join(parts, sep)
			return []chunk{c}, nil
		}
		if sc.posInput && len(sc.pos) == 0 {
			c := dyn
			c.fromIn, c.fromPos = true, true
			return []chunk{c}, nil
		}
		if len(sc.pos) == 0 {
			return []chunk{{emptyArg: quoted && name == "@", param: true, fromPos: true}}, nil
		}
		for i, f := range sc.pos {
			if i > 0 {
				cs = append(cs, chunk{brk: true})
			}
			cs = append(cs, chunk{text: f.val, dyn: !f.static, param: true, varName: name, split: !quoted, fromPos: true, fromIn: f.input})
		}
		if sc.posInput {
			cs = append(cs, chunk{brk: true}, chunk{text: "$@", dyn: true, param: true, varName: name, fromPos: true, fromIn: true})
		}
		return cs, nil
	case "#":
		if sc.posKnown {
			return []chunk{{text: strconv.Itoa(len(sc.pos)), param: true}}, nil
		}
		return []chunk{dyn}, nil
	case "0":
		if sc.dollar0 != nil {
			return []chunk{{text: sc.dollar0.val, dyn: !sc.dollar0.static, param: true, split: !quoted, fromPos: true, fromIn: sc.dollar0.input}}, nil
		}
		return []chunk{dyn}, nil
	case "?", "$", "!", "-", "_":
		return []chunk{dyn}, nil
	}
	var val string
	known, set := false, false
	fromIn := false
	if n, err := strconv.Atoi(name); err == nil {
		if sc.posKnown {
			known = true
			if n >= 1 && n <= len(sc.pos) {
				set = true
				pf := sc.pos[n-1]
				val = pf.val
				fromIn = pf.input
				if !pf.static {
					known = false
				}
			}
		}
	} else if v, ok := sc.lookup(name); ok {
		known, set, val = true, v.set, v.val
	} else if v, ok := sc.vars[name]; ok {
		fromIn = v.input
		dyn.hint = v.hint
	}
	if n, err := strconv.Atoi(name); err == nil && sc.posInput && n > len(sc.pos) {
		known, fromIn = false, true
	}
	dyn.fromIn = fromIn
	if p.Exp != nil {
		return r.paramOp(p, sc, name, val, known, set, quoted, dyn)
	}
	if !known {
		dyn.fromPos = isDigits(name)
		dyn.fromIn = fromIn
		return []chunk{dyn}, nil
	}
	return []chunk{{text: val, param: true, varName: name, split: !quoted, fromPos: isDigits(name), fromIn: fromIn}}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// paramOp handles ${name op word}.
func (r *run) paramOp(p *syntax.ParamExp, sc *scope, name, val string, known, set, quoted bool, dyn chunk) ([]chunk, *finding) {
	var word field
	if p.Exp.Word != nil {
		w, f := r.evalString(p.Exp.Word, sc, evalQuoted)
		if f != nil {
			return nil, f
		}
		word = w
	} else {
		word = field{static: true}
	}
	op := p.Exp.Op
	nullTest := op == syntax.DefaultUnsetOrNull || op == syntax.AssignUnsetOrNull || op == syntax.AlternateUnsetOrNull || op == syntax.ErrorUnsetOrNull
	useWord := func() []chunk {
		c := chunk{text: word.val, dyn: !word.static, param: true, varName: name, split: !quoted}
		if !word.static {
			c.hint = word.hintOrVal()
		}
		return []chunk{c}
	}
	switch op {
	case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull:
		isAssign := op == syntax.AssignUnset || op == syntax.AssignUnsetOrNull
		if known {
			empty := !set || (nullTest && val == "")
			if empty {
				if isAssign {
					sc.assign(name, word, false)
				}
				return useWord(), nil
			}
			return []chunk{{text: val, param: true, varName: name, split: !quoted}}, nil
		}
		if isAssign {
			sc.forget(name)
		}
		dyn.hint = word.hintOrVal()
		return []chunk{dyn}, nil
	case syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
		if known {
			if !set || (nullTest && val == "") {
				return []chunk{{param: true, split: !quoted}}, nil
			}
			return useWord(), nil
		}
		dyn.hint = word.hintOrVal()
		return []chunk{dyn}, nil
	case syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		if known && set && !(nullTest && val == "") {
			return []chunk{{text: val, param: true, varName: name, split: !quoted}}, nil
		}
		return []chunk{dyn}, nil
	}
	return []chunk{dyn}, nil
}

func (r *run) walkParamWords(p *syntax.ParamExp, sc *scope) *finding {
	var ws []*syntax.Word
	if p.Repl != nil {
		ws = append(ws, p.Repl.Orig, p.Repl.With)
	}
	for _, w := range ws {
		if w == nil {
			continue
		}
		if _, f := r.evalWord(w, sc, evalQuoted); f != nil {
			return f
		}
	}
	return nil
}

// splitChunks performs field splitting and joins chunks into fields.
func splitChunks(cs []chunk, mode evalMode, ifs string) []field {
	n := 1
	for i := range cs {
		if cs[i].brk {
			n++
		}
	}
	out := make([]field, 0, n)
	var cur field
	started := false
	cur.static = true
	flush := func(force bool) {
		if started || force {
			out = append(out, cur)
		}
		cur = field{static: true}
		started = false
	}
	add := func(c chunk, text string) {
		if !started {
			cur.posOnly = c.fromPos
		} else if !c.fromPos && text != "" {
			cur.posOnly = false
		}
		started = true
		cur.val += text
		if c.dyn {
			cur.static = false
		}
		cur.glob = cur.glob || (c.glob && !c.quoted)
		cur.subst = cur.subst || c.subst
		cur.param = cur.param || c.param
		cur.spaced = cur.spaced || c.spaced
		cur.input = cur.input || c.fromIn
		if c.varName != "" {
			cur.vars = append(cur.vars, c.varName)
		}
		if c.hint != "" {
			cur.hint += c.hint
		} else {
			cur.hint += text
		}
		if c.proc != nil {
			cur.proc = c.proc
		}
	}
	for _, c := range cs {
		if c.brk {
			flush(true)
			continue
		}
		if c.emptyArg {
			continue
		}
		if c.quoted {
			add(c, c.text)
			continue
		}
		if !c.split || mode != evalArg || c.dyn {
			if c.text == "" && !c.dyn {
				continue
			}
			add(c, c.text)
			continue
		}
		if ifs == unknownIFS {
			// Splitting on an IFS the engine cannot see: the result is unknown.
			c.dyn = true
			add(c, c.text)
			continue
		}
		if c.text != "" && !strings.ContainsAny(c.text, ifs) {
			// Nothing to split: the common case, kept cheap for "$@".
			add(c, c.text)
			cur.ifsSplit = cur.ifsSplit || ifs != " \t\n"
			continue
		}
		// Unquoted expansion with a known value: split on IFS.
		parts := splitIFS(c.text, ifs)
		for i, part := range parts {
			if i > 0 {
				flush(false)
			}
			if part.text != "" || part.force {
				add(c, part.text)
				cur.ifsSplit = cur.ifsSplit || ifs != " \t\n"
			}
		}
	}
	flush(false)
	for i := range out {
		if out[i].static {
			out[i].hint = ""
		}
	}
	return out
}

type ifsPart struct {
	text  string
	force bool
}

// splitIFS splits an expansion result the way the shell does: IFS whitespace
// collapses and trims, other IFS characters delimit one by one.
func splitIFS(s, ifs string) []ifsPart {
	if ifs == "" {
		return []ifsPart{{text: s}}
	}
	isWS := func(r rune) bool { return strings.ContainsRune(ifs, r) && (r == ' ' || r == '\t' || r == '\n') }
	isSep := func(r rune) bool { return strings.ContainsRune(ifs, r) }
	var parts []ifsPart
	var b strings.Builder
	inField := false
	pendingSep := false
	for i, r := range s {
		switch {
		case isWS(r):
			if inField {
				parts = append(parts, ifsPart{text: b.String(), force: true})
				b.Reset()
				inField = false
			}
			if i == 0 {
				parts = append(parts, ifsPart{})
			}
		case isSep(r):
			parts = append(parts, ifsPart{text: b.String(), force: inField || pendingSep})
			b.Reset()
			inField = false
			pendingSep = true
		default:
			b.WriteRune(r)
			inField = true
			pendingSep = false
		}
	}
	if inField || b.Len() > 0 {
		parts = append(parts, ifsPart{text: b.String(), force: true})
	} else if len(s) > 0 {
		parts = append(parts, ifsPart{})
	}
	if len(parts) == 0 {
		parts = append(parts, ifsPart{})
	}
	return parts
}

// unescapeUnquoted removes backslash quoting from unquoted literal text and
// reports unquoted glob metacharacters.
func unescapeUnquoted(s string) (string, bool) {
	if !strings.ContainsAny(s, "\\*?[") {
		return s, false
	}
	var b strings.Builder
	glob := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		}
		if c == '*' || c == '?' || c == '[' {
			glob = true
		}
		b.WriteByte(c)
	}
	return b.String(), glob
}

// unescapeDouble removes the backslashes that double quotes (or an unquoted
// heredoc, where '"' is not special) honour.
func unescapeDouble(s string, heredoc bool) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			n := s[i+1]
			if n == '$' || n == '`' || n == '\\' || (n == '"' && !heredoc) {
				b.WriteByte(n)
				i++
				continue
			}
			if n == '\n' {
				i++
				continue
			}
		}
		b.WriteByte(c)
	}
	return b.String()
}

// decodeANSIC decodes the body of a $'...' string. It fails on escapes that do
// not denote a valid character, which the engine then treats as dynamic.
func decodeANSIC(s string) (string, bool) {
	if !strings.Contains(s, "\\") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		i++
		switch e := s[i]; e {
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'e', 'E':
			b.WriteByte(27)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case '\\', '\'', '"', '?':
			b.WriteByte(e)
		case 'c':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i] & 0x1f)
			}
		case 'x', 'u', 'U':
			max := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			j := i + 1
			for j < len(s) && j-i-1 < max && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('\\')
				b.WriteByte(e)
				continue
			}
			n, err := strconv.ParseUint(s[i+1:j], 16, 32)
			if err != nil {
				return "", false
			}
			if e == 'x' {
				b.WriteByte(byte(n))
			} else {
				if n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
					return "", false
				}
				b.WriteRune(rune(n))
			}
			i = j - 1
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j-i < 3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(s[i:j], 8, 16)
			b.WriteByte(byte(n))
			i = j - 1
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// backtickHeredoc treats a heredoc inside backticks as opaque text: shells
// disagree on where such a body ends, so the engine does not trust its own
// parse. Strict mode refuses it; otherwise the text is scanned for
// destructive commands.
func (r *run) backtickHeredoc(p *syntax.CmdSubst, sc *scope) *finding {
	if !p.Backquotes {
		return nil
	}
	has := false
	syntax.Walk(p, func(n syntax.Node) bool {
		if rd, ok := n.(*syntax.Redirect); ok && (rd.Op == syntax.Hdoc || rd.Op == syntax.DashHdoc) {
			has = true
		}
		return !has
	})
	if !has {
		return nil
	}
	text := "`…`"
	if start, end := int(p.Pos().Offset()), int(p.End().Offset()); start < end && end <= len(sc.src) {
		text = sc.src[start:end]
	}
	if r.mode.Has(guard.ModeStrict) {
		return &finding{rule: guard.RuleEngineUnparsable, segment: text, reason: reasonStrictUnparsable}
	}
	return r.scanRawText(strings.Trim(text, "`"), text)
}
