package policy

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/custom"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/interp"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/powershell"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/protect"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// The check is the context every rule family judges in: each family
// declares the narrow view of the walker it needs (a Context interface of its
// own) and gets the command itself as a family.Call; run implements all of
// those views, and no family sees more of the walker than its view.
var (
	_ custom.Context     = (*run)(nil)
	_ git.Context        = (*run)(nil)
	_ deletion.Context   = (*run)(nil)
	_ secrets.Context    = (*run)(nil)
	_ protect.Context    = (*run)(nil)
	_ interp.Context     = (*run)(nil)
	_ powershell.Context = (*run)(nil)
	_ rawtext.Context    = (*run)(nil)
)

// Rules are the request's custom rules.
func (r *run) Rules() []events.GuardRule { return r.req.Rules }

// ChargeDerived reserves n words of command lines judged again; false once
// the budget is spent (Aborted says why).
func (r *run) ChargeDerived(n int, segment string) bool { return r.chargeDerived(n, segment) }

// NoteWrite records a file the command writes, with its content when known.
func (r *run) NoteWrite(cwd string, target family.Field, content *string) {
	r.noteWriteAt(cwd, target, content)
}

// ReserveParallel charges parallel expansion work to the check's budget;
// false once it is spent (the check is then blocked).
func (r *run) ReserveParallel(w interp.ParallelWork, segment string) bool {
	return r.reserveParallel(w, segment)
}

// walkerCall is c as the walker holds a command, in c's shell state.
func walkerCall(c family.Call) *cmdCall {
	return &cmdCall{Call: c, sc: c.Shell.(*scope)}
}

// Exec judges a command c runs as a program (no shell function or builtin
// applies), in c's shell state: what a wrapper or a carrier peeled off, or
// find -exec runs, is judged like any command.
func (r *run) Exec(c family.Call) *family.Finding {
	n := walkerCall(c)
	n.external = true
	n.Peeled++
	return r.analyzeCall(n)
}

// JudgeCode judges shell code c hands over as one string (watch, su -c,
// ssh, a parallel job) in a shell started with c's environment.
func (r *run) JudgeCode(c family.Call, code family.Field, origin string) *family.Finding {
	return r.judgeCode(walkerCall(c), code, origin)
}

// JudgeShell judges the script a shell c starts runs: the exported shell
// state and c's own assignments, the positional parameters sh gives.
func (r *run) JudgeShell(c family.Call, code string, sh interp.Shell) *family.Finding {
	sc := r.childScope(walkerCall(c))
	if sh.Login {
		sc.cwd = ""
	}
	pos := sh.Args
	if k := len(pos); k > 0 && family.IsAppendedInput(pos[k-1]) {
		pos, sc.posInput = pos[:k-1], true
	}
	sc.pos, sc.posKnown, sc.dollar0 = pos, true, sh.Dollar0
	return r.judgeScript(code, sc, scriptNested)
}

// JudgeInherited judges shell code a program c starts runs: it sees the
// exported shell state, in c's directory.
func (r *run) JudgeInherited(c family.Call, code string) *family.Finding {
	sc := c.Shell.(*scope).child()
	sc.cwd = c.Cwd
	return r.judgeScript(code, sc, scriptNested)
}

// JudgeCodeAsShell reads interpreter code as shell, in case a shell command
// was handed to the wrong program. Parse errors are expected and ignored,
// except an unclosed quote, which upstream treats as raw text.
func (r *run) JudgeCodeAsShell(c family.Call, code string) *family.Finding {
	file, err := parseBash(code)
	r.kept = &parsed{src: code, file: file, err: err}
	if err != nil {
		if isUnclosedQuote(err) {
			if r.mode.Has(guard.ModeStrict) && strings.ContainsAny(code, " \t") {
				return r.Block(guard.RuleEngineUnparsable, family.ReasonStrictUnparsable, c.Seg)
			}
			return rawtext.Scan(r, code, c.Seg)
		}
		return nil
	}
	sc := c.Shell.(*scope).child()
	sc.cwd = c.Cwd
	defer r.secrets.Hush()()
	return r.judgeScript(code, sc, scriptCode)
}
