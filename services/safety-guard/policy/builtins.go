package policy

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// builtin handles shell builtins: those that change the shell state the
// walker tracks, and those that run code (eval, source, trap).
func (r *run) builtin(cc *cmdCall, base string) (bool, *family.Finding) {
	effect := !cc.external && !cc.LookupOnly
	args := cc.Args
	switch base {
	case "eval":
		return true, r.evalBuiltin(cc)
	case "source", ".":
		return true, r.sourceBuiltin(cc)
	case "trap":
		return true, r.trapBuiltin(cc)
	case "cd", "pushd", "popd", "chdir":
		if !effect {
			// cd through a wrapper does nothing, but an engine that guesses
			// wrong here would misplace every relative path after it.
			cc.sc.cwd = ""
		}
		if effect {
			switch {
			case base == "popd":
				cc.sc.cwd = ""
			case len(args) == 1:
				if v, ok := cc.sc.lookup("HOME"); ok && v.Set {
					cc.sc.cwd = family.ResolveDir("", family.Lit(v.Val))
				} else {
					cc.sc.cwd = ""
				}
			default:
				t := args[len(args)-1]
				if strings.HasPrefix(t.Val, "-") || strings.HasPrefix(t.Val, "+") {
					cc.sc.cwd = ""
				} else {
					cc.sc.cwd = family.ResolveDir(cc.sc.cwd, t)
				}
			}
		}
		return true, nil
	case "export", "declare", "typeset", "local", "readonly":
		if effect || cc.LookupOnly {
			ops := make([]declOp, 0, len(args)-1)
			for _, a := range args[1:] {
				if name, v, ok := family.SplitAssignment(a); ok {
					ops = append(ops, declOp{name: name, val: v, hasValue: true, appendTo: strings.Contains(a.Val[:len(name)+1], "+")})
				} else {
					ops = append(ops, declOp{word: a})
				}
			}
			if effect {
				r.applyDecl(base, ops, cc.Env, cc.sc)
			}
		}
		return true, nil
	case "unset":
		if effect {
			funcs := false
			for _, a := range args[1:] {
				switch a.Val {
				case "-f":
					funcs = true
				case "-v", "-n":
				default:
					if !a.Static {
						continue
					}
					if funcs {
						delete(cc.sc.funcs, a.Val)
					} else if family.IsName(a.Val) {
						cc.sc.unset(a.Val)
					}
				}
			}
		}
		return true, nil
	case "set":
		if effect {
			r.setBuiltin(args[1:], cc.sc)
		}
		return true, nil
	case "read", "mapfile", "readarray", "getopts":
		if effect {
			for _, a := range args[1:] {
				if family.IsName(a.Val) {
					cc.sc.forget(a.Val)
				}
			}
		}
		return false, nil
	case "shift":
		if effect && cc.sc.posKnown {
			n := 1
			if len(args) > 1 {
				if v, err := strconv.Atoi(args[1].Val); err == nil && args[1].Static {
					n = v
				} else {
					cc.sc.posKnown = false
					return true, nil
				}
			}
			if n <= len(cc.sc.pos) {
				cc.sc.pos = cc.sc.pos[n:]
			}
		}
		return true, nil
	}
	return false, nil
}

// declOp is one operand of a declaration builtin.
type declOp struct {
	word     family.Field // option or bare name
	name     string
	val      family.Field
	hasValue bool
	appendTo bool
}

// walkDecl judges a declaration clause (export, declare, local, ...).
func (r *run) walkDecl(st *syntax.Stmt, c *syntax.DeclClause, sc *scope, in *family.Stdin) *family.Finding {
	variant := ""
	if c.Variant != nil {
		variant = c.Variant.Value
	}
	var ops []declOp
	for _, a := range c.Args {
		switch {
		case a.Name == nil && a.Value != nil:
			fs, f := r.evalWord(a.Value, sc, evalArg)
			if f != nil {
				return f
			}
			for _, fl := range fs {
				if name, v, ok := family.SplitAssignment(fl); ok {
					ops = append(ops, declOp{name: name, val: v, hasValue: true})
				} else {
					ops = append(ops, declOp{word: fl})
				}
			}
		case a.Name != nil && a.Naked:
			ops = append(ops, declOp{word: family.Lit(a.Name.Value)})
		case a.Name != nil:
			op := declOp{name: a.Name.Value, hasValue: true, appendTo: a.Append}
			switch {
			case a.Array != nil:
				for _, el := range a.Array.Elems {
					if _, f := r.evalWord(el.Value, sc, evalAssign); f != nil {
						return f
					}
				}
				op.val = family.Field{Val: "(…)"}
			case a.Value != nil:
				v, f := r.evalString(a.Value, sc, evalAssign)
				if f != nil {
					return f
				}
				op.val = v
			default:
				op.val = family.Field{Static: true}
			}
			ops = append(ops, op)
		}
	}
	if f := r.walkRedirects(st, sc, nil, in); f != nil {
		return f
	}
	r.applyDecl(variant, ops, nil, sc)
	return nil
}

// applyDecl applies export/declare/typeset/local/readonly to the scope. Like
// the shell, an invalid option makes export do nothing, and options stop at "--".
func (r *run) applyDecl(variant string, ops []declOp, prefix []family.EnvAssign, sc *scope) {
	exportFlag := variant == "export"
	unexport := false
	readonly := variant == "readonly"
	operands := false
	valid := true
	var names []declOp
	for _, op := range ops {
		if op.name != "" {
			operands = true
			names = append(names, op)
			continue
		}
		w := op.word.Val
		if !operands && w == "--" {
			operands = true
			continue
		}
		if !operands && len(w) > 1 && (w[0] == '-' || w[0] == '+') {
			flags := w[1:]
			if variant == "export" {
				if strings.Trim(flags, "pfn") != "" || w[0] == '+' {
					valid = false
				}
				continue
			}
			if strings.Contains(flags, "x") {
				if w[0] == '-' {
					exportFlag, unexport = true, false
				} else {
					exportFlag, unexport = false, true
				}
			}
			continue
		}
		operands = true
		names = append(names, declOp{word: op.word})
	}
	if !valid {
		// Bash rejects the options and changes nothing.
		return
	}
	// Prefix assignments of declaration builtins persist, like for special builtins.
	prefixByName := map[string]family.Field{}
	for _, p := range prefix {
		sc.assign(p.Name, p.Val, false)
		prefixByName[p.Name] = p.Val
	}
	for _, op := range names {
		name := op.name
		if name == "" {
			name = op.word.Val
			if !op.word.Static {
				continue
			}
		}
		if !family.IsName(name) {
			continue
		}
		if op.hasValue {
			sc.assign(name, op.val, op.appendTo)
		}
		v := sc.vars[name]
		switch {
		case exportFlag:
			v.Exported = true
		case unexport:
			v.Exported = false
		case readonly:
			if _, ok := prefixByName[name]; ok {
				v.Exported = true
			}
		}
		if !op.hasValue && exportFlag {
			if _, had := sc.vars[name]; !had {
				v = family.Var{Known: true, Set: true, Exported: true}
			}
		}
		sc.vars[name] = v
	}
}

// setBuiltin follows set's option changes (allexport, keyword) and positional
// parameters.
func (r *run) setBuiltin(args []family.Field, sc *scope) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !a.Static {
			sc.allexport, sc.keyword = true, true
			sc.posKnown = false
			return
		}
		v := a.Val
		switch {
		case v == "--":
			sc.pos, sc.posKnown = args[i+1:], true
			return
		case v == "-o" || v == "+o":
			if i+1 < len(args) {
				switch args[i+1].Val {
				case "allexport":
					sc.allexport = v == "-o"
				case "keyword":
					sc.keyword = v == "-o"
				}
				i++
			}
		case len(v) > 1 && (v[0] == '-' || v[0] == '+'):
			on := v[0] == '-'
			for _, c := range v[1:] {
				switch c {
				case 'a':
					sc.allexport = on
				case 'k':
					sc.keyword = on
				}
			}
		default:
			sc.pos, sc.posKnown = args[i:], true
			return
		}
	}
}

// shellInitGenerators are commands whose output is routinely eval'ed or sourced
// to set up a shell. Only the exact shape eval "$(generator args)" with static
// arguments is accepted; anything else fed to eval must be visible.
var shellInitGenerators = map[string]bool{
	"ssh-agent": true, "direnv": true, "brew": true, "pyenv": true, "rbenv": true, "nodenv": true,
	"goenv": true, "zoxide": true, "starship": true, "fnm": true, "kubectl": true, "mise": true, "rtx": true,
}

// isShellInitEval recognises eval "$(ssh-agent -s)" and friends.
func (r *run) isShellInitEval(cc *cmdCall, w *syntax.Word) bool {
	if cc.Peeled != 0 || len(cc.Env) != 0 || (cc.st != nil && len(cc.st.Redirs) != 0) || len(cc.Args) != 2 || w == nil {
		return false
	}
	var stmts []*syntax.Stmt
	switch len(w.Parts) {
	case 1:
		switch p := w.Parts[0].(type) {
		case *syntax.DblQuoted:
			if len(p.Parts) != 1 {
				return false
			}
			cs, ok := p.Parts[0].(*syntax.CmdSubst)
			if !ok {
				return false
			}
			stmts = cs.Stmts
		case *syntax.ProcSubst:
			if p.Op != syntax.CmdIn {
				return false
			}
			stmts = p.Stmts
		default:
			return false
		}
	default:
		return false
	}
	if len(stmts) != 1 || len(stmts[0].Redirs) != 0 || stmts[0].Background || stmts[0].Negated {
		return false
	}
	call, ok := stmts[0].Cmd.(*syntax.CallExpr)
	if !ok || len(call.Assigns) != 0 || len(call.Args) == 0 {
		return false
	}
	for _, a := range call.Args {
		if a.Lit() == "" {
			return false
		}
	}
	name := call.Args[0].Lit()
	if strings.Contains(name, "/") && !strings.HasPrefix(name, "/opt/homebrew/bin/") && !strings.HasPrefix(name, "/usr/local/bin/") && !strings.HasPrefix(name, "/usr/bin/") {
		return false
	}
	return shellInitGenerators[family.CommandBase(name)]
}

// argWord returns the syntax word behind argument i of a plain call, if the
// call came straight from the parser.
func argWord(cc *cmdCall, i int) *syntax.Word {
	if cc.st == nil || cc.Peeled != 0 {
		return nil
	}
	call, ok := cc.st.Cmd.(*syntax.CallExpr)
	if !ok || i >= len(call.Args) {
		return nil
	}
	return call.Args[i]
}

func (r *run) evalBuiltin(cc *cmdCall) *family.Finding {
	args := cc.Args[1:]
	if len(args) > 0 && args[0].Val == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return nil
	}
	code := family.JoinFields(args, " ")
	if !code.Static {
		if code.Input {
			return family.CarrierDynamic(r, &cc.Call, "eval runs input")
		}
		if !r.mode.Has(guard.ModeStrict) && r.isShellInitEval(cc, argWord(cc, 1)) {
			return nil
		}
		return r.Block(guard.RuleDynamicScript, "eval runs code the engine cannot see ("+family.Clip(code.Src)+"); shell execution source cannot be verified.", cc.Seg)
	}
	sc := cc.sc
	if cc.external {
		sc = sc.clone()
	}
	return r.judgeScript(code.Val, sc, scriptNested)
}

func (r *run) sourceBuiltin(cc *cmdCall) *family.Finding {
	args := cc.Args[1:]
	for len(args) > 0 && strings.HasPrefix(args[0].Val, "-") && args[0].Val != "-" {
		if args[0].Val == "--" {
			args = args[1:]
			break
		}
		if args[0].Val == "-p" && len(args) > 1 {
			if !args[1].Static {
				return r.Block(guard.RuleDynamicScript, "source searches a path the engine cannot see; shell execution source cannot be verified.", cc.Seg)
			}
			args = args[2:]
			continue
		}
		args = args[1:]
	}
	if len(args) == 0 {
		return nil
	}
	file := args[0]
	if file.Proc != nil {
		if !r.mode.Has(guard.ModeStrict) && len(cc.Args) == 2 && r.isShellInitEval(cc, argWord(cc, 1)) {
			return nil
		}
		return r.Block(guard.RuleDynamicScript, "source runs the output of a command the engine cannot see; shell execution source cannot be verified.", cc.Seg)
	}
	if !file.Static {
		if file.Input {
			return family.CarrierDynamic(r, &cc.Call, "source runs a file named by the input")
		}
		return r.Block(guard.RuleDynamicScript, "source runs a file the engine cannot name ("+family.Clip(file.Src)+"); shell execution source cannot be verified.", cc.Seg)
	}
	if wf := r.writtenFile(cc.Cwd, file.Val); wf != nil {
		if !wf.known {
			return r.Block(guard.RuleDynamicScript, "source runs a file this command rewrote with content the engine cannot see.", cc.Seg)
		}
		sc := cc.sc
		if cc.external {
			sc = sc.clone()
		}
		return r.judgeScript(wf.content, sc, scriptNested)
	}
	return nil
}

func (r *run) trapBuiltin(cc *cmdCall) *family.Finding {
	args := cc.Args[1:]
	if len(args) > 0 && args[0].Val == "--" {
		args = args[1:]
	}
	if len(args) < 2 || args[0].Val == "-" || strings.HasPrefix(args[0].Val, "-") && args[0].Static && len(args[0].Val) == 2 {
		return nil
	}
	code := args[0]
	if !code.Static {
		return r.Block(guard.RuleDynamicScript, "trap installs code the engine cannot see; shell execution source cannot be verified.", cc.Seg)
	}
	return r.judgeScript(code.Val, cc.sc.clone(), scriptNested)
}
