package policy

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

type scriptKind uint8

const (
	scriptTop    scriptKind = iota // the request itself
	scriptNested                   // code handed to a shell: bash -c, eval, heredoc, ...
	scriptCode                     // interpreter code read as shell, best effort
)

const maxCalls = 24

func parseBash(src string) (*syntax.File, error) {
	p := syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(false))
	return p.Parse(strings.NewReader(src), "")
}

// parsed is a parse result kept for the next judgeScript of the same source:
// interpreter code is parsed once to see whether it is shell at all, and
// parsing long code is the most expensive step.
type parsed struct {
	src  string
	file *syntax.File
	err  error
}

// parse parses src, taking a kept result once; an AST is walked only once.
func (r *run) parse(src string) (*syntax.File, error) {
	if p := r.kept; p != nil && p.src == src {
		r.kept = nil
		return p.file, p.err
	}
	return parseBash(src)
}

// judgeScript parses src as bash and walks it in sc.
func (r *run) judgeScript(src string, sc *scope, kind scriptKind) *family.Finding {
	if !r.Step(src) {
		return r.abort
	}
	if kind != scriptTop {
		if sc.depth+1 >= r.eng.maxDepth {
			return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src,
				Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
		}
		sc.depth++
		defer func() { sc.depth-- }()
	}
	file, err := r.parse(src)
	if err != nil {
		return r.judgeUnparsable(src, sc, kind, err)
	}
	if r.mode.Has(guard.ModeStrict) {
		if f := r.strictHeredocs(file, src); f != nil {
			return f
		}
	}
	saved := sc.src
	sc.src = src
	defer func() { sc.src = saved }()
	return r.walkStmts(file.Stmts, sc)
}

func (r *run) walkStmts(stmts []*syntax.Stmt, sc *scope) *family.Finding {
	for _, st := range stmts {
		if f := r.walkStmt(st, sc, nil); f != nil {
			return f
		}
	}
	return nil
}

// walkSubst judges the statements of a command substitution in a subshell.
func (r *run) walkSubst(stmts []*syntax.Stmt, sc *scope) *family.Finding {
	return r.walkStmts(stmts, sc.clone())
}

func (r *run) walkProcSubst(p *syntax.ProcSubst, sc *scope) *family.Finding {
	return r.walkStmts(p.Stmts, sc.clone())
}

func (r *run) walkStmt(st *syntax.Stmt, sc *scope, in *family.Stdin) *family.Finding {
	if st == nil {
		return nil
	}
	if !r.Step(srcOf(sc, st)) {
		return r.abort
	}
	if st.Background || st.Coprocess || st.Disown {
		// A background job runs in a subshell: its state does not leak.
		sc = sc.clone()
	}
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		return r.walkCall(st, c, sc, in)
	case nil:
		return r.walkRedirects(st, sc, nil, in)
	}
	// Compound commands: redirections apply to the whole; judge their words first.
	if f := r.walkRedirects(st, sc, nil, in); f != nil {
		return f
	}
	stdin := r.redirectStdin(st, sc)
	if stdin == nil {
		stdin = in
	}
	switch c := st.Cmd.(type) {
	case *syntax.BinaryCmd:
		if c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
			return r.walkPipeline(c, sc, stdin)
		}
		if f := r.walkStmt(c.X, sc, stdin); f != nil {
			return f
		}
		return r.walkStmt(c.Y, sc, stdin)
	case *syntax.Block:
		return r.walkStmtsIn(c.Stmts, sc, stdin)
	case *syntax.Subshell:
		return r.walkStmtsIn(c.Stmts, sc.clone(), stdin)
	case *syntax.IfClause:
		return r.walkIf(c, sc, stdin)
	case *syntax.WhileClause:
		r.invalidate(c, sc)
		if f := r.walkStmtsIn(c.Cond, sc, stdin); f != nil {
			return f
		}
		return r.walkStmtsIn(c.Do, sc, stdin)
	case *syntax.ForClause:
		return r.walkFor(c, sc, stdin)
	case *syntax.CaseClause:
		if _, f := r.evalWord(c.Word, sc, evalQuoted); f != nil {
			return f
		}
		r.invalidate(c, sc)
		for _, it := range c.Items {
			for _, p := range it.Patterns {
				if _, f := r.evalWord(p, sc, evalQuoted); f != nil {
					return f
				}
			}
			if f := r.walkStmtsIn(it.Stmts, sc, stdin); f != nil {
				return f
			}
		}
		return nil
	case *syntax.FuncDecl:
		if c.Name != nil {
			sc.funcs[c.Name.Value] = &funcDef{body: c.Body, src: sc.src}
		}
		for _, n := range c.Names {
			sc.funcs[n.Value] = &funcDef{body: c.Body, src: sc.src}
		}
		return nil
	case *syntax.ArithmCmd:
		if f := r.walkArithm(c.X, sc); f != nil {
			return f
		}
		// bash reads "((" as nested subshells when the body is not arithmetic;
		// judge that reading too, so "(( rm -rf / ))" is not a blind spot.
		src := srcOf(sc, c)
		if strings.HasPrefix(src, "((") && strings.HasSuffix(src, "))") {
			inner := src[2 : len(src)-2]
			if looksLikeCommandText(inner) {
				return r.judgeScript(inner, sc.clone(), scriptCode)
			}
		}
		return nil
	case *syntax.TestClause:
		return r.walkTest(c.X, sc)
	case *syntax.DeclClause:
		return r.walkDecl(st, c, sc, stdin)
	case *syntax.LetClause:
		for _, e := range c.Exprs {
			if f := r.walkArithm(e, sc); f != nil {
				return f
			}
		}
		return nil
	case *syntax.TimeClause:
		return r.walkStmt(timeInner(c.Stmt), sc, stdin)
	case *syntax.CoprocClause:
		return r.walkStmt(c.Stmt, sc.clone(), stdin)
	case *syntax.TestDecl:
		return r.walkStmt(c.Body, sc.clone(), stdin)
	}
	return nil
}

// looksLikeCommandText is true when text read as a command line has a word
// that is not arithmetic, so that "(( x = 1 ))" is not re-read as commands.
func looksLikeCommandText(s string) bool {
	for _, w := range strings.Fields(s) {
		if len(w) > 1 && (w[0] == '-' || w[0] == '/' || w[0] == '~' || w[0] == '.') {
			return true
		}
	}
	return false
}

func (r *run) walkStmtsIn(stmts []*syntax.Stmt, sc *scope, in *family.Stdin) *family.Finding {
	for _, st := range stmts {
		if f := r.walkStmt(st, sc, in); f != nil {
			return f
		}
	}
	return nil
}

func (r *run) walkIf(c *syntax.IfClause, sc *scope, in *family.Stdin) *family.Finding {
	r.invalidate(c, sc)
	for ; c != nil; c = c.Else {
		if f := r.walkStmtsIn(c.Cond, sc, in); f != nil {
			return f
		}
		if f := r.walkStmtsIn(c.Then, sc, in); f != nil {
			return f
		}
	}
	return nil
}

func (r *run) walkFor(c *syntax.ForClause, sc *scope, in *family.Stdin) *family.Finding {
	switch l := c.Loop.(type) {
	case *syntax.WordIter:
		items, f := r.evalWords(l.Items, sc)
		if f != nil {
			return f
		}
		name := ""
		if l.Name != nil {
			name = l.Name.Value
		}
		allStatic := len(l.Items) > 0 && len(items) <= 16
		for _, it := range items {
			allStatic = allStatic && it.Static && !it.Glob
		}
		if allStatic && name != "" {
			// Walk the body once per item: precise, and bounded by the item count.
			for _, it := range items {
				body := sc.clone()
				r.invalidate(c, body)
				body.assign(name, it, false)
				if f := r.walkStmtsIn(c.Do, body, in); f != nil {
					return f
				}
			}
			r.invalidate(c, sc)
			return nil
		}
		r.invalidate(c, sc)
		if name != "" {
			sc.forget(name)
		}
	case *syntax.CStyleLoop:
		r.invalidate(c, sc)
		for _, e := range []syntax.ArithmExpr{l.Init, l.Cond, l.Post} {
			if f := r.walkArithm(e, sc); f != nil {
				return f
			}
		}
	}
	return r.walkStmtsIn(c.Do, sc, in)
}

// invalidate forgets what a compound command may change when the engine
// cannot tell which branch or how many iterations run: assigned variables, the
// working directory and shell options.
func (r *run) invalidate(n syntax.Node, sc *scope) {
	syntax.Walk(n, func(node syntax.Node) bool {
		switch x := node.(type) {
		case *syntax.Assign:
			if x.Name != nil {
				sc.forget(x.Name.Value)
			}
		case *syntax.WordIter:
			if x.Name != nil {
				sc.forget(x.Name.Value)
			}
		case *syntax.CallExpr:
			if len(x.Args) > 0 {
				switch x.Args[0].Lit() {
				case "cd", "pushd", "popd":
					sc.cwd = ""
				case "read", "mapfile", "readarray", "getopts", "export", "declare", "typeset", "local", "readonly", "printf", "unset":
					for _, a := range x.Args[1:] {
						name := a.Lit()
						if i := strings.IndexByte(name, '='); i > 0 {
							name = name[:i]
						}
						if family.IsName(name) {
							sc.forget(name)
						}
					}
				case "set":
					sc.allexport = true
				}
			}
		case *syntax.Subshell, *syntax.CmdSubst, *syntax.ProcSubst:
			return false
		}
		return true
	})
}

func (r *run) walkArithm(e syntax.ArithmExpr, sc *scope) *family.Finding {
	var found *family.Finding
	syntax.Walk(e, func(n syntax.Node) bool {
		if found != nil {
			return false
		}
		switch x := n.(type) {
		case *syntax.CmdSubst:
			found = r.walkSubst(x.Stmts, sc)
			return false
		case *syntax.ProcSubst:
			found = r.walkProcSubst(x, sc)
			return false
		}
		return true
	})
	return found
}

func (r *run) walkTest(e syntax.TestExpr, sc *scope) *family.Finding {
	var found *family.Finding
	syntax.Walk(e, func(n syntax.Node) bool {
		if found != nil {
			return false
		}
		if w, ok := n.(*syntax.Word); ok {
			_, found = r.evalWord(w, sc, evalQuoted)
			return false
		}
		return true
	})
	return found
}

// walkPipeline judges the members of a pipeline left to right, each in a
// subshell, telling every member what the previous one writes to it.
func (r *run) walkPipeline(c *syntax.BinaryCmd, sc *scope, in *family.Stdin) *family.Finding {
	var members []*syntax.Stmt
	var flatten func(s *syntax.Stmt)
	flatten = func(s *syntax.Stmt) {
		if b, ok := s.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) && len(s.Redirs) == 0 && !s.Negated {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		members = append(members, s)
	}
	flatten(c.X)
	flatten(c.Y)
	stdin := in
	for _, m := range members {
		msc := sc.clone()
		if f := r.walkStmt(m, msc, stdin); f != nil {
			return f
		}
		stdin = r.pipeOutput(m, msc)
	}
	return nil
}

// pipeOutput computes what a pipeline member writes, when it is a pure
// producer the engine can evaluate (echo, printf, cat of a heredoc).
func (r *run) pipeOutput(st *syntax.Stmt, sc *scope) *family.Stdin {
	out := &family.Stdin{Kind: family.StdinPipe}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Args) == 0 {
		return out
	}
	args, f := r.evalWords(call.Args, sc.clone())
	if f != nil || len(args) == 0 {
		return out
	}
	out.Producer = args
	text, known := staticOutput(args, r.redirectStdin(st, sc))
	out.Text, out.Known = text, known
	return out
}

// timeInner strips what the time keyword itself reads: -p and "--" (unquoted),
// and a "!" that follows them.
func timeInner(st *syntax.Stmt) *syntax.Stmt {
	if st == nil {
		return nil
	}
	call, ok := st.Cmd.(*syntax.CallExpr)
	if !ok || len(call.Assigns) > 0 {
		return st
	}
	args := call.Args
	for len(args) > 0 {
		l, ok := args[0].Parts[0].(*syntax.Lit)
		if !ok || len(args[0].Parts) != 1 {
			break
		}
		if l.Value == "-p" || l.Value == "--" {
			args = args[1:]
			continue
		}
		break
	}
	negate := false
	if len(args) > 0 && len(args[0].Parts) == 1 {
		if l, ok := args[0].Parts[0].(*syntax.Lit); ok && l.Value == "!" {
			args = args[1:]
			negate = true
		}
	}
	if len(args) == len(call.Args) {
		return st
	}
	n := *st
	n.Negated = n.Negated || negate
	n.Cmd = &syntax.CallExpr{Args: args}
	return &n
}
