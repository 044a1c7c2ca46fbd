package policy

import (
	"maps"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

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
	vars     map[string]family.Var
	funcs    map[string]*funcDef
	pos      []family.Field // positional parameters $1...
	posKnown bool
	// posInput is true when more positional parameters follow from xargs or
	// parallel input.
	posInput  bool
	dollar0   *family.Field
	allexport bool
	keyword   bool
	depth     int // nesting of re-parsed scripts
	calls     int // nesting of function calls
	src       string
}

func (r *run) rootScope() *scope {
	sc := &scope{cwd: r.origCwd, vars: make(map[string]family.Var, len(r.req.Env)+4), funcs: map[string]*funcDef{}}
	for k, v := range r.req.Env {
		sc.vars[k] = family.Var{Val: v, Known: true, Set: true, Exported: true}
	}
	return sc
}

// Vars are the shell variables at this point; rules only read them.
func (sc *scope) Vars() map[string]family.Var { return sc.vars }

// Depth is how deeply this script is nested in code handed to shells.
func (sc *scope) Depth() int { return sc.depth }

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
	c := &scope{cwd: sc.cwd, vars: make(map[string]family.Var, len(sc.vars)), funcs: map[string]*funcDef{}, depth: sc.depth, calls: sc.calls}
	for k, v := range sc.vars {
		if v.Exported {
			v.FromScript = false
			c.vars[k] = v
		} else if !v.Known {
			// An unknown variable might be exported; keep it unknown in the child.
			c.vars[k] = family.Var{}
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
func (sc *scope) lookup(name string) (family.Var, bool) {
	v, ok := sc.vars[name]
	if !ok || !v.Known {
		return family.Var{}, false
	}
	return v, true
}

// assign records a shell assignment.
func (sc *scope) assign(name string, f family.Field, appendTo bool) {
	old, had := sc.vars[name]
	v := family.Var{Exported: (had && old.Exported) || sc.allexport, FromScript: true, Set: true}
	switch {
	case !f.Static:
		v.Known = false
		v.Input = f.Input
		v.Hint = f.HintOrVal()
	case appendTo && had && !old.Known:
		v.Known = false
	case appendTo && had:
		v.Known, v.Val = true, old.Val+f.Val
	default:
		v.Known, v.Val = true, f.Val
	}
	sc.vars[name] = v
}

// forget marks a variable as unknown while keeping whether it is exported,
// for assignments the engine cannot follow (read, loops, branches).
func (sc *scope) forget(name string) {
	old := sc.vars[name]
	sc.vars[name] = family.Var{Exported: old.Exported || sc.allexport, FromScript: true}
}

func (sc *scope) unset(name string) {
	sc.vars[name] = family.Var{Known: true, Set: false}
}

// childScope is the scope of a shell or interpreter the command starts: the
// exported state plus the command's own environment assignments.
func (r *run) childScope(cc *cmdCall) *scope {
	sc := cc.sc.child()
	sc.cwd = cc.Cwd
	for _, a := range cc.Env {
		sc.vars[a.Name] = family.Var{Val: a.Val.Val, Known: a.Val.Static, Set: true, Exported: true, Input: a.Val.Input}
	}
	if cc.Carrier == "parallel" {
		sc.vars["PARALLEL_INPUT"] = family.Var{Input: true, Exported: true}
	}
	return sc
}
