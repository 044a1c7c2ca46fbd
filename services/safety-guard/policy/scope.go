package policy

import (
	"maps"

	"mvdan.cc/sh/v3/syntax"
)

// shVar is what the engine knows about one shell variable at a point of the
// script.
type shVar struct {
	val      string
	known    bool // the value is known
	set      bool // the variable is set (meaningful when known)
	exported bool
	// fromScript marks values assigned by the command itself rather than
	// inherited; strict mode treats command names built from them as dynamic.
	fromScript bool
	// input marks values controlled by xargs or parallel input.
	input bool
	// hint is a best-effort value for secret scanning when the value is unknown.
	hint string
}

// funcDef is a shell function defined by the command.
type funcDef struct {
	body     *syntax.Stmt
	src      string
	exported bool
}

// scope is the shell state the walker carries through a script: working
// directory, variables, functions and options. Subshells get a clone.
type scope struct {
	cwd      string // effective working directory; "" when unknown
	vars     map[string]shVar
	funcs    map[string]*funcDef
	pos      []field // positional parameters $1...
	posKnown bool
	// posInput is true when more positional parameters follow from xargs or
	// parallel input.
	posInput  bool
	dollar0   *field
	allexport bool
	keyword   bool
	depth     int // nesting of re-parsed scripts
	calls     int // nesting of function calls
	src       string
}

func (r *run) rootScope() *scope {
	sc := &scope{cwd: r.origCwd, vars: make(map[string]shVar, len(r.req.Env)+4), funcs: map[string]*funcDef{}}
	for k, v := range r.req.Env {
		sc.vars[k] = shVar{val: v, known: true, set: true, exported: true}
	}
	return sc
}

// clone returns an independent copy, for subshells, substitutions and
// pipeline members whose changes must not leak back.
func (sc *scope) clone() *scope {
	c := *sc
	c.vars = maps.Clone(sc.vars)
	c.funcs = maps.Clone(sc.funcs)
	return &c
}

// child returns the scope of a new shell process started by the command: only
// exported variables and functions survive, positional parameters are fresh.
func (sc *scope) child() *scope {
	c := &scope{cwd: sc.cwd, vars: make(map[string]shVar, len(sc.vars)), funcs: map[string]*funcDef{}, depth: sc.depth, calls: sc.calls}
	for k, v := range sc.vars {
		if v.exported {
			v.fromScript = false
			c.vars[k] = v
		} else if !v.known {
			// An unknown variable might be exported; keep it unknown in the child.
			c.vars[k] = shVar{}
		}
	}
	for k, f := range sc.funcs {
		if f.exported {
			c.funcs[k] = f
		}
	}
	return c
}

// lookup returns what is known about variable name; ok is false when nothing
// is known, which callers treat as a dynamic value.
func (sc *scope) lookup(name string) (shVar, bool) {
	v, ok := sc.vars[name]
	if !ok || !v.known {
		return shVar{}, false
	}
	return v, true
}

// assign records a shell assignment.
func (sc *scope) assign(name string, f field, appendTo bool) {
	old, had := sc.vars[name]
	v := shVar{exported: (had && old.exported) || sc.allexport, fromScript: true, set: true}
	switch {
	case !f.static:
		v.known = false
		v.input = f.input
		v.hint = f.hintOrVal()
	case appendTo && had && !old.known:
		v.known = false
	case appendTo && had:
		v.known, v.val = true, old.val+f.val
	default:
		v.known, v.val = true, f.val
	}
	sc.vars[name] = v
}

// forget marks a variable as unknown while keeping whether it is exported,
// for assignments the engine cannot follow (read, loops, branches).
func (sc *scope) forget(name string) {
	old := sc.vars[name]
	sc.vars[name] = shVar{exported: old.exported || sc.allexport, fromScript: true}
}

func (sc *scope) unset(name string) {
	sc.vars[name] = shVar{known: true, set: false}
}

// childScope is the scope of a shell or interpreter the command starts: the
// exported state plus the command's own environment assignments.
func (r *run) childScope(cc *cmdCall) *scope {
	sc := cc.sc.child()
	sc.cwd = cc.cwd
	for _, a := range cc.env {
		sc.vars[a.name] = shVar{val: a.val.val, known: a.val.static, set: true, exported: true, input: a.val.input}
	}
	if cc.carrier == "parallel" {
		sc.vars["PARALLEL_INPUT"] = shVar{input: true, exported: true}
	}
	return sc
}
