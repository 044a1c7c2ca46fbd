package policy

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

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
func (r *run) evalWords(ws []*syntax.Word, sc *scope) ([]family.Field, *family.Finding) {
	if len(ws) == 1 {
		fs, f := r.evalWord(ws[0], sc, evalArg)
		return fs, f
	}
	// Collect first and copy once: "$@" can multiply the word count, and
	// growing a slice of fields step by step costs more than the expansion.
	parts := make([][]family.Field, 0, len(ws))
	total := 0
	for _, w := range ws {
		fs, f := r.evalWord(w, sc, evalArg)
		if f != nil {
			return nil, f
		}
		parts = append(parts, fs)
		total += len(fs)
		if total > maxCommandFields {
			r.abort = &family.Finding{Rule: guard.RuleEngineBudget, Segment: srcOf(sc, w),
				Reason: "The command expands to more than 16384 words and cannot be judged safely; shorten its argument list."}
			return nil, r.abort
		}
	}
	out := make([]family.Field, 0, total)
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
func (r *run) evalWord(w *syntax.Word, sc *scope, mode evalMode) ([]family.Field, *family.Finding) {
	if w == nil {
		return nil, nil
	}
	src := srcOf(sc, w)
	if !r.Step(src) {
		return nil, r.abort
	}
	if mode == evalArg && len(w.Parts) == 1 {
		// Fast path for the common plain word: long commands are mostly
		// made of them.
		if l, ok := w.Parts[0].(*syntax.Lit); ok && !strings.HasPrefix(l.Value, "~") && !(strings.Contains(l.Value, "{") && strings.Contains(l.Value, "}")) {
			t, g := unescapeUnquoted(l.Value)
			return []family.Field{{Val: t, Static: true, Glob: g, Spaced: strings.ContainsAny(t, " \t\n"), Src: src}}, nil
		}
	}
	if mode == evalArg && hasBraceCandidate(w) {
		alts := expandBraces(w, 256)
		if alts == nil {
			// Too many alternatives to follow: a dynamic field.
			return []family.Field{{Val: src, Src: src, Glob: true}}, nil
		}
		if len(alts) > 1 || alts[0] != w {
			var out []family.Field
			for _, a := range alts {
				// Bash expands braces once: the results are not expanded again
				// (".\{dist}" must not loop).
				fs, f := r.expandWord(a, sc, mode, src)
				if f != nil {
					return nil, f
				}
				for i := range fs {
					fs[i].Src = src
				}
				out = append(out, fs...)
			}
			return out, nil
		}
	}
	return r.expandWord(w, sc, mode, src)
}

// expandWord is evalWord after brace expansion.
func (r *run) expandWord(w *syntax.Word, sc *scope, mode evalMode, src string) ([]family.Field, *family.Finding) {
	if !r.Step(src) {
		return nil, r.abort
	}
	var chunks []chunk
	f := r.wordChunks(w.Parts, sc, mode, false, true, &chunks)
	if f != nil {
		return nil, f
	}
	fields := splitChunks(chunks, mode, r.ifs(sc))
	for i := range fields {
		fields[i].Src = src
	}
	return fields, nil
}

// evalString expands a word without field splitting and joins the result,
// for assignment values, here-strings and heredoc bodies.
func (r *run) evalString(w *syntax.Word, sc *scope, mode evalMode) (family.Field, *family.Finding) {
	fs, f := r.evalWord(w, sc, mode)
	if f != nil {
		return family.Field{}, f
	}
	return family.JoinFields(fs, " "), nil
}

func (r *run) ifs(sc *scope) string {
	v, ok := sc.vars["IFS"]
	switch {
	case !ok:
		return " \t\n"
	case !v.Known:
		return unknownIFS
	case !v.Set:
		return " \t\n"
	}
	return v.Val
}

// unknownIFS stands for an IFS the engine cannot compute; a NUL byte cannot
// be part of a real IFS.
const unknownIFS = "\x00"

func (r *run) wordChunks(parts []syntax.WordPart, sc *scope, mode evalMode, quoted, first bool, out *[]chunk) *family.Finding {
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
	if v, ok := sc.lookup("HOME"); ok && v.Set && v.Val != "" {
		return chunk{text: v.Val, param: true, varName: "HOME"}, text[end:], true
	}
	return chunk{text: "~", dyn: true, varName: "HOME"}, text[end:], true
}

// paramChunks expands a parameter expansion.
func (r *run) paramChunks(p *syntax.ParamExp, sc *scope, quoted bool) ([]chunk, *family.Finding) {
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
				parts = append(parts, f.Val)
				if !f.Static {
					c.dyn = true
				}
				c.fromIn = c.fromIn || f.Input
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
			cs = append(cs, chunk{text: f.Val, dyn: !f.Static, param: true, varName: name, split: !quoted, fromPos: true, fromIn: f.Input})
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
			return []chunk{{text: sc.dollar0.Val, dyn: !sc.dollar0.Static, param: true, split: !quoted, fromPos: true, fromIn: sc.dollar0.Input}}, nil
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
				val = pf.Val
				fromIn = pf.Input
				if !pf.Static {
					known = false
				}
			}
		}
	} else if v, ok := sc.lookup(name); ok {
		known, set, val = true, v.Set, v.Val
	} else if v, ok := sc.vars[name]; ok {
		fromIn = v.Input
		dyn.hint = v.Hint
	}
	if n, err := strconv.Atoi(name); err == nil && sc.posInput && n > len(sc.pos) {
		known, fromIn = false, true
	}
	dyn.fromIn = fromIn
	if p.Exp != nil {
		return r.paramOp(p, sc, name, val, known, set, quoted, dyn)
	}
	if !known {
		dyn.fromPos = family.IsDigits(name)
		dyn.fromIn = fromIn
		return []chunk{dyn}, nil
	}
	return []chunk{{text: val, param: true, varName: name, split: !quoted, fromPos: family.IsDigits(name), fromIn: fromIn}}, nil
}

// paramOp handles ${name op word}.
func (r *run) paramOp(p *syntax.ParamExp, sc *scope, name, val string, known, set, quoted bool, dyn chunk) ([]chunk, *family.Finding) {
	var word family.Field
	if p.Exp.Word != nil {
		w, f := r.evalString(p.Exp.Word, sc, evalQuoted)
		if f != nil {
			return nil, f
		}
		word = w
	} else {
		word = family.Field{Static: true}
	}
	op := p.Exp.Op
	nullTest := op == syntax.DefaultUnsetOrNull || op == syntax.AssignUnsetOrNull || op == syntax.AlternateUnsetOrNull || op == syntax.ErrorUnsetOrNull
	useWord := func() []chunk {
		c := chunk{text: word.Val, dyn: !word.Static, param: true, varName: name, split: !quoted}
		if !word.Static {
			c.hint = word.HintOrVal()
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
		dyn.hint = word.HintOrVal()
		return []chunk{dyn}, nil
	case syntax.AlternateUnset, syntax.AlternateUnsetOrNull:
		if known {
			if !set || (nullTest && val == "") {
				return []chunk{{param: true, split: !quoted}}, nil
			}
			return useWord(), nil
		}
		dyn.hint = word.HintOrVal()
		return []chunk{dyn}, nil
	case syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		if known && set && !(nullTest && val == "") {
			return []chunk{{text: val, param: true, varName: name, split: !quoted}}, nil
		}
		return []chunk{dyn}, nil
	}
	return []chunk{dyn}, nil
}

func (r *run) walkParamWords(p *syntax.ParamExp, sc *scope) *family.Finding {
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
func splitChunks(cs []chunk, mode evalMode, ifs string) []family.Field {
	n := 1
	for i := range cs {
		if cs[i].brk {
			n++
		}
	}
	out := make([]family.Field, 0, n)
	var cur family.Field
	started := false
	cur.Static = true
	flush := func(force bool) {
		if started || force {
			out = append(out, cur)
		}
		cur = family.Field{Static: true}
		started = false
	}
	add := func(c chunk, text string) {
		if !started {
			cur.PosOnly = c.fromPos
		} else if !c.fromPos && text != "" {
			cur.PosOnly = false
		}
		started = true
		cur.Val += text
		if c.dyn {
			cur.Static = false
		}
		cur.Glob = cur.Glob || (c.glob && !c.quoted)
		cur.Subst = cur.Subst || c.subst
		cur.Param = cur.Param || c.param
		cur.Spaced = cur.Spaced || c.spaced
		cur.Input = cur.Input || c.fromIn
		if c.varName != "" {
			cur.Vars = append(cur.Vars, c.varName)
		}
		if c.hint != "" {
			cur.Hint += c.hint
		} else {
			cur.Hint += text
		}
		if c.proc != nil {
			cur.Proc = c.proc
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
			cur.IFSSplit = cur.IFSSplit || ifs != " \t\n"
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
				cur.IFSSplit = cur.IFSSplit || ifs != " \t\n"
			}
		}
	}
	flush(false)
	for i := range out {
		if out[i].Static {
			out[i].Hint = ""
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
			for j < len(s) && j-i-1 < max && family.IsHex(s[j]) {
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

// backtickHeredoc treats a heredoc inside backticks as opaque text: shells
// disagree on where such a body ends, so the engine does not trust its own
// parse. Strict mode refuses it; otherwise the text is scanned for
// destructive commands.
func (r *run) backtickHeredoc(p *syntax.CmdSubst, sc *scope) *family.Finding {
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
		return &family.Finding{Rule: guard.RuleEngineUnparsable, Segment: text, Reason: family.ReasonStrictUnparsable}
	}
	return rawtext.Scan(r, strings.Trim(text, "`"), text)
}
