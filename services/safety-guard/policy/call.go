package policy

import (
	"path/filepath"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
)

// envAssign is one variable in a command's environment.
type envAssign struct {
	name string
	val  field
}

// cmdCall is a simple command on its way through wrapper peeling and the rules.
type cmdCall struct {
	args []field
	// env holds assignments in the command's environment: prefix assignments,
	// env NAME=value, set -k keywords.
	env []envAssign
	// cwd is where the command runs ("" when unknown); wrappers like env -C move it.
	cwd string
	// external is true once a wrapper has exec'd the command: shell functions and
	// builtins no longer apply.
	external bool
	// lookupOnly is true for command -v/-V: the command is not run, but its
	// destructive shape is still judged.
	lookupOnly bool
	// noFunc is true after "command" or "builtin", which bypass functions.
	noFunc bool
	stdin  *stdinInfo
	st     *syntax.Stmt
	sc     *scope
	seg    string
	// carrier is "xargs" or "parallel" when some arguments come from their input.
	carrier string
	// inputValues are the carrier's input words when the producer is known,
	// used only by secret protection.
	inputValues []string
	// peeled counts wrappers removed so far, to bound pathological chains.
	peeled int
}

func (cc *cmdCall) with(args []field) *cmdCall {
	n := *cc
	n.args = args
	n.peeled++
	return &n
}

func (cc *cmdCall) envValue(name string) (field, bool) {
	for i := len(cc.env) - 1; i >= 0; i-- {
		if cc.env[i].name == name {
			return cc.env[i].val, true
		}
	}
	return field{}, false
}

func (r *run) walkCall(st *syntax.Stmt, call *syntax.CallExpr, sc *scope, in *stdinInfo) *finding {
	seg := srcOf(sc, st)
	type pending struct {
		name   string
		val    field
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
			p.val = field{static: true}
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
	cc := &cmdCall{args: args, cwd: sc.cwd, stdin: stdin, st: st, sc: sc, seg: seg}
	for _, a := range assigns {
		v := a.val
		if a.array {
			v = field{val: "(…)"}
		}
		if a.append {
			if old, ok := sc.lookup(a.name); ok && v.static {
				v = field{val: old.val + v.val, static: true}
			} else {
				v.static = false
			}
		}
		cc.env = append(cc.env, envAssign{name: a.name, val: v})
	}
	if sc.keyword {
		// set -k: NAME=value arguments anywhere go to the environment.
		kept := cc.args[:1:1]
		for _, a := range cc.args[1:] {
			if n, v, ok := splitAssignment(a); ok {
				cc.env = append(cc.env, envAssign{name: n, val: v})
				continue
			}
			kept = append(kept, a)
		}
		cc.args = kept
	}
	if f := r.walkRedirects(st, sc, cc, stdin); f != nil {
		return f
	}
	if r.mode.Has(guard.ModeStrict) {
		// Strict mode does not rely on the engine's view of which expanded
		// words are data: a variable holding a destructive command line
		// blocks wherever it is expanded.
		for _, a := range args {
			if a.param && a.static && !a.posOnly && strings.ContainsAny(a.val, " \t\n") {
				if f := r.scanRawText(a.val, seg); f != nil {
					return f
				}
			}
		}
	}
	return r.analyzeCall(cc)
}

// splitAssignment recognises a NAME=value (or NAME+=value) argument.
func splitAssignment(a field) (string, field, bool) {
	i := strings.IndexByte(a.val, '=')
	if i <= 0 {
		return "", field{}, false
	}
	name := strings.TrimSuffix(a.val[:i], "+")
	if !isName(name) {
		return "", field{}, false
	}
	v := a
	v.val = a.val[i+1:]
	return name, v, true
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// commandBase normalises a command name for matching: basename (either slash),
// lower case, without a Windows .exe suffix.
func commandBase(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.ToLower(name)
	return strings.TrimSuffix(name, ".exe")
}

// analyzeCall judges one simple command: peel wrappers, follow functions and
// builtins, then apply the rules for the command it really runs.
func (r *run) analyzeCall(cc *cmdCall) *finding {
	if !r.step(cc.seg) {
		return r.abort
	}
	if len(cc.args) == 0 {
		return nil
	}
	if cc.peeled > 64 {
		return &finding{rule: guard.RuleEngineDepth, segment: cc.seg, reason: "Command wraps itself too many times to be analysed safely."}
	}
	name := cc.args[0]
	if !name.static || name.glob {
		if name.input {
			return r.carrierDynamic(cc, "the command name comes from the input")
		}
		return r.block(guard.RuleDynamicCommandName, "The command name is not static ("+clip(name.src)+"), so the engine cannot tell what runs. Write the command name literally.", cc.seg)
	}
	if name.param && !name.input && !name.posOnly && (r.mode.Has(guard.ModeStrict) || r.req.Policy.RuleSwitches[guard.RuleDynamicCommandName]) {
		if f := r.block(guard.RuleDynamicCommandName, "The command name comes from a variable; write it literally.", cc.seg); f != nil {
			return f
		}
	}
	if name.val == "" {
		return nil
	}
	if cc.lookupOnly && len(cc.args) == 1 {
		return nil
	}
	if strings.ContainsAny(name.val, " \t\n\u2028\u2029") && !name.posOnly {
		// A command name with blanks is usually a command line pasted into
		// one word; scan the text in case it was meant to run. Without a
		// slash it names no program at all.
		if f := r.scanRawText(joinVals(cc.args), cc.seg); f != nil || !strings.ContainsAny(name.val, `/\`) {
			return f
		}
	}
	base := commandBase(name.val)
	if !cc.external && !cc.noFunc {
		if fn, ok := cc.sc.funcs[name.val]; ok && !strings.Contains(name.val, "/") {
			return r.callFunction(cc, fn)
		}
	}
	if f := r.customRules(cc, base); f != nil {
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
	if f := r.secretCheck(cc, base); f != nil {
		return f
	}
	if f := r.protectCheck(cc, base); f != nil {
		return f
	}
	return r.fallbackScan(cc, base)
}

func joinVals(fs []field) string {
	vs := make([]string, len(fs))
	for i, f := range fs {
		vs[i] = f.val
	}
	return strings.Join(vs, " ")
}

func vals(fs []field) []string {
	vs := make([]string, len(fs))
	for i, f := range fs {
		vs[i] = f.val
	}
	return vs
}

// callFunction judges a call of a function the command defined.
func (r *run) callFunction(cc *cmdCall, fn *funcDef) *finding {
	sc := cc.sc
	if sc.calls+1 > maxCalls {
		return &finding{rule: guard.RuleEngineDepth, segment: cc.seg, reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	}
	savedPos, savedKnown, savedSrc := sc.pos, sc.posKnown, sc.src
	sc.pos, sc.posKnown, sc.src = cc.args[1:], true, fn.src
	sc.calls++
	defer func() {
		sc.pos, sc.posKnown, sc.src = savedPos, savedKnown, savedSrc
		sc.calls--
	}()
	return r.walkStmt(fn.body, sc, cc.stdin)
}

// resolveDir resolves a directory operand (cd, env -C, git -C) against base,
// following symlinks the way the kernel does. It returns "" when the result
// is unknown or not an existing directory.
func resolveDir(base string, target field) string {
	if !target.static || target.val == "" {
		return ""
	}
	p := target.val
	if !filepath.IsAbs(p) {
		if base == "" {
			return ""
		}
		real, err := filepath.EvalSymlinks(base)
		if err != nil {
			return ""
		}
		// No Join: cleaning would apply ".." before symlinks are resolved.
		p = real + string(filepath.Separator) + p
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	if !isDir(real) {
		return ""
	}
	return real
}
