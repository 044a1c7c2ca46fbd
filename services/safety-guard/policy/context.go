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

// A command on its way through the walker is the context its rule families
// judge it in: each family declares the narrow view of the walker it needs
// (a Context interface of its own), and cmdCall implements all of them.
var (
	_ custom.Context   = (*cmdCall)(nil)
	_ git.Context      = (*cmdCall)(nil)
	_ deletion.Context = (*cmdCall)(nil)
	_ secrets.Context  = (*cmdCall)(nil)
	_ protect.Context  = (*cmdCall)(nil)
	_ interp.Context   = (*cmdCall)(nil)
)

// The check itself is the context of what is judged outside a command: the
// request read as PowerShell, raw text, the files redirections name.
var (
	_ powershell.Context = (*run)(nil)
	_ rawtext.Context    = (*run)(nil)
	_ secrets.Context    = (*run)(nil)
	_ protect.Context    = (*run)(nil)
)

// Rules are the request's custom rules.
func (cc *cmdCall) Rules() []events.GuardRule { return cc.r.req.Rules }

// Depth is how deeply the command is nested in code handed to shells.
func (cc *cmdCall) Depth() int { return cc.sc.depth }

// Mode is the request's mode.
func (cc *cmdCall) Mode() guard.Mode { return cc.r.mode }

// Switched reports whether the policy switches rule id on explicitly.
func (cc *cmdCall) Switched(id string) bool { return cc.r.Switched(id) }

// Enabled reports whether rule id is active for this request.
func (cc *cmdCall) Enabled(id string) bool { return cc.r.Enabled(id) }

// Block returns a finding for rule id, or nil when the rule is off.
func (cc *cmdCall) Block(id, reason, segment string) *family.Finding {
	return cc.r.Block(id, reason, segment)
}

// Vars are the shell variables the command sees; the rules only read them.
func (cc *cmdCall) Vars() map[string]family.Var { return cc.sc.vars }

// Home is the home directory from the request's environment; "" when unknown.
func (cc *cmdCall) Home() string { return cc.r.home }

// StartDir is the absolute directory the command starts in; "" when unknown.
func (cc *cmdCall) StartDir() string { return cc.r.origCwd }

// RealPath resolves the symlinks in p as far as it exists.
func (cc *cmdCall) RealPath(p string) string { return cc.r.RealPath(p) }

// TempRoots are the directories whose contents are scratch space.
func (cc *cmdCall) TempRoots() []string { return cc.r.TempRoots() }

// IsTempPath reports whether an absolute, static path lies in a temp root.
func (cc *cmdCall) IsTempPath(p string) bool { return cc.r.IsTempPath(p) }

// AllowPaths are the policy's directories where recursive deletes are allowed.
func (cc *cmdCall) AllowPaths() []string { return cc.r.allowPaths }

// GitMetadata returns the git metadata paths near dir and the hooks
// directories among them.
func (cc *cmdCall) GitMetadata(dir string) (paths, hooks []string) { return cc.r.GitMetadata(dir) }

// ChargeDerived reserves n words of command lines judged again.
func (cc *cmdCall) ChargeDerived(n int, segment string) bool { return cc.r.chargeDerived(n, segment) }

// Aborted is the finding that stopped the analysis (a budget), if any.
func (cc *cmdCall) Aborted() *family.Finding { return cc.r.abort }

// Exec judges a command this one runs as a program (no shell function or
// builtin applies), in the same shell state: what a wrapper or a carrier
// peeled off is judged like any command.
func (cc *cmdCall) Exec(c family.Call) *family.Finding {
	n := cc.with(c.Args)
	n.Call = c
	n.external = true
	return cc.r.analyzeCall(n)
}

// NoteWrite records a file the command writes, with its content when known.
func (cc *cmdCall) NoteWrite(cwd string, target family.Field, content *string) {
	cc.r.noteWriteAt(cwd, target, content)
}

// Step charges one unit of work; false once a budget is spent.
func (cc *cmdCall) Step(segment string) bool { return cc.r.Step(segment) }

// Secrets is the state of the secret rules for this check.
func (cc *cmdCall) Secrets() *secrets.State { return &cc.r.secrets }

// Protected are the policy's protected files, made absolute.
func (cc *cmdCall) Protected() []string { return cc.r.protected }

// WrittenFile returns what the command wrote to path earlier (relative to
// cwd), and whether the engine knows the content.
func (cc *cmdCall) WrittenFile(cwd, path string) (content string, known, ok bool) {
	return cc.r.WrittenFile(cwd, path)
}

// JudgeCode judges shell code c hands over as one string (watch, su -c,
// ssh, a parallel job) in a shell started with c's environment.
func (cc *cmdCall) JudgeCode(c family.Call, code family.Field, origin string) *family.Finding {
	n := *cc
	n.Call = c
	return cc.r.judgeCode(&n, code, origin)
}

// JudgeShell judges the script a shell c starts runs: the exported shell
// state and c's own assignments, the positional parameters sh gives.
func (cc *cmdCall) JudgeShell(c family.Call, code string, sh interp.Shell) *family.Finding {
	n := *cc
	n.Call = c
	sc := cc.r.childScope(&n)
	if sh.Login {
		sc.cwd = ""
	}
	pos := sh.Args
	if k := len(pos); k > 0 && family.IsAppendedInput(pos[k-1]) {
		pos, sc.posInput = pos[:k-1], true
	}
	sc.pos, sc.posKnown, sc.dollar0 = pos, true, sh.Dollar0
	return cc.r.judgeScript(code, sc, scriptNested)
}

// JudgeInherited judges shell code a program c starts runs: it sees the
// exported shell state, in c's directory.
func (cc *cmdCall) JudgeInherited(c family.Call, code string) *family.Finding {
	sc := cc.sc.child()
	sc.cwd = c.Cwd
	return cc.r.judgeScript(code, sc, scriptNested)
}

// ReserveParallel charges parallel expansion work to the check's budget;
// false once it is spent (the check is then blocked).
func (cc *cmdCall) ReserveParallel(w interp.ParallelWork, segment string) bool {
	return cc.r.reserveParallel(w, segment)
}

// JudgeCodeAsShell reads interpreter code as shell, in case a shell command
// was handed to the wrong program. Parse errors are expected and ignored,
// except an unclosed quote, which upstream treats as raw text.
func (cc *cmdCall) JudgeCodeAsShell(c family.Call, code string) *family.Finding {
	r := cc.r
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
	sc := cc.sc.child()
	sc.cwd = c.Cwd
	defer r.secrets.Hush()()
	return r.judgeScript(code, sc, scriptCode)
}
