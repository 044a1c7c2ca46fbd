package policy

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/custom"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/protect"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// cmdCall is a simple command on its way through wrapper peeling and the
// rules: what the rules see, and the walker's own state around it.
type cmdCall struct {
	family.Call
	// external is true once a wrapper has exec'd the command: shell functions and
	// builtins no longer apply.
	external bool
	// noFunc is true after "command" or "builtin", which bypass functions.
	noFunc bool
	st     *syntax.Stmt
	// sc is the shell state the command runs in (Call.Shell, as the walker
	// holds it).
	sc *scope
}

func (cc *cmdCall) with(args []family.Field) *cmdCall {
	n := *cc
	n.Args = args
	n.Peeled++
	return &n
}

func (r *run) walkCall(st *syntax.Stmt, call *syntax.CallExpr, sc *scope, in *family.Stdin) *family.Finding {
	seg := srcOf(sc, st)
	type pending struct {
		name   string
		val    family.Field
		append bool
		array  bool
	}
	var assigns []pending
	for _, a := range call.Assigns {
		if a.Name == nil {
			continue
		}
		p := pending{name: a.Name.Value, append: a.Append}
		switch {
		case a.Array != nil:
			for _, el := range a.Array.Elems {
				if _, f := r.evalWord(el.Value, sc, evalAssign); f != nil {
					return f
				}
			}
			p.array = true
		case a.Index != nil:
			if f := r.walkArithm(a.Index, sc); f != nil {
				return f
			}
			p.array = true
		case a.Value != nil:
			v, f := r.evalString(a.Value, sc, evalAssign)
			if f != nil {
				return f
			}
			p.val = v
		default:
			p.val = family.Field{Static: true}
		}
		assigns = append(assigns, p)
	}
	args, f := r.evalWords(call.Args, sc)
	if f != nil {
		return f
	}
	stdin := r.redirectStdin(st, sc)
	if stdin == nil {
		stdin = in
	}
	if len(args) == 0 {
		for _, a := range assigns {
			if a.array {
				sc.forget(a.name)
			} else {
				sc.assign(a.name, a.val, a.append)
			}
		}
		return r.walkRedirects(st, sc, nil, stdin)
	}
	cc := &cmdCall{Call: family.Call{Args: args, Cwd: sc.cwd, Stdin: stdin, Seg: seg, Shell: sc}, st: st, sc: sc}
	for _, a := range assigns {
		v := a.val
		if a.array {
			v = family.Field{Val: "(…)"}
		}
		if a.append {
			if old, ok := sc.lookup(a.name); ok && v.Static {
				v = family.Field{Val: old.Val + v.Val, Static: true}
			} else {
				v.Static = false
			}
		}
		cc.Env = append(cc.Env, family.EnvAssign{Name: a.name, Val: v})
	}
	if sc.keyword {
		// set -k: NAME=value arguments anywhere go to the environment.
		kept := cc.Args[:1:1]
		for _, a := range cc.Args[1:] {
			if n, v, ok := family.SplitAssignment(a); ok {
				cc.Env = append(cc.Env, family.EnvAssign{Name: n, Val: v})
				continue
			}
			kept = append(kept, a)
		}
		cc.Args = kept
	}
	if f := r.walkRedirects(st, sc, cc, stdin); f != nil {
		return f
	}
	if r.mode.Has(guard.ModeStrict) {
		// Strict mode does not rely on the engine's view of which expanded
		// words are data: a variable holding a destructive command line
		// blocks wherever it is expanded.
		for _, a := range args {
			if a.Param && a.Static && !a.PosOnly && strings.ContainsAny(a.Val, " \t\n") {
				if f := rawtext.Scan(r, a.Val, seg); f != nil {
					return f
				}
			}
		}
	}
	return r.analyzeCall(cc)
}

// analyzeCall judges one simple command: peel wrappers, follow functions and
// builtins, then apply the rules for the command it really runs.
func (r *run) analyzeCall(cc *cmdCall) *family.Finding {
	if !r.Step(cc.Seg) {
		return r.abort
	}
	if len(cc.Args) == 0 {
		return nil
	}
	if cc.Peeled > 64 {
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: cc.Seg, Reason: "Command wraps itself too many times to be analysed safely."}
	}
	name := cc.Args[0]
	if !name.Static || name.Glob {
		if name.Input {
			return family.CarrierDynamic(r, &cc.Call, "the command name comes from the input")
		}
		return r.Block(guard.RuleDynamicCommandName, "The command name is not static ("+family.Clip(name.Src)+"), so the engine cannot tell what runs. Write the command name literally.", cc.Seg)
	}
	if name.Param && !name.Input && !name.PosOnly && (r.mode.Has(guard.ModeStrict) || r.req.Policy.RuleSwitches[guard.RuleDynamicCommandName]) {
		if f := r.Block(guard.RuleDynamicCommandName, "The command name comes from a variable; write it literally.", cc.Seg); f != nil {
			return f
		}
	}
	if name.Val == "" {
		return nil
	}
	if cc.LookupOnly && len(cc.Args) == 1 {
		return nil
	}
	if strings.ContainsAny(name.Val, " \t\n\u2028\u2029") && !name.PosOnly {
		// A command name with blanks is usually a command line pasted into
		// one word; scan the text in case it was meant to run. Without a
		// slash it names no program at all.
		if f := rawtext.Scan(r, family.JoinVals(cc.Args), cc.Seg); f != nil || !strings.ContainsAny(name.Val, `/\`) {
			return f
		}
	}
	base := family.CommandBase(name.Val)
	if !cc.external && !cc.noFunc {
		if fn, ok := cc.sc.funcs[name.Val]; ok && !strings.Contains(name.Val, "/") {
			return r.callFunction(cc, fn)
		}
	}
	if f := custom.Judge(r, &cc.Call); f != nil {
		return f
	}
	if handled, f := r.peelWrapper(cc, base); handled || f != nil {
		return r.firstOf(f)
	}
	if handled, f := r.builtin(cc, base); handled || f != nil {
		return f
	}
	if f := r.commandRules(cc, base); f != nil {
		return f
	}
	if f := secrets.Judge(r, &cc.Call); f != nil {
		return f
	}
	if f := protect.Judge(r, &cc.Call); f != nil {
		return f
	}
	return r.fallbackScan(cc, base)
}

// callFunction judges a call of a function the command defined.
func (r *run) callFunction(cc *cmdCall, fn *funcDef) *family.Finding {
	sc := cc.sc
	if sc.calls+1 > maxCalls {
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: cc.Seg, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	}
	savedPos, savedKnown, savedSrc := sc.pos, sc.posKnown, sc.src
	sc.pos, sc.posKnown, sc.src = cc.Args[1:], true, fn.src
	sc.calls++
	defer func() {
		sc.pos, sc.posKnown, sc.src = savedPos, savedKnown, savedSrc
		sc.calls--
	}()
	return r.walkStmt(fn.body, sc, cc.Stdin)
}
