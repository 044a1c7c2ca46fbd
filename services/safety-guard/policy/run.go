package policy

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/interp"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/powershell"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// run is the state of one Check: the request, the budgets, and the resolved
// policy. It is not shared between goroutines.
type run struct {
	eng      *Engine
	req      *Request
	mode     guard.Mode
	ctx      context.Context
	deadline time.Time
	steps    int
	derived  int // tokens of embedded commands re-analysed, see chargeDerived
	parallel interp.ParallelBudget
	abort    *family.Finding

	home       string // home directory from Env; "" when unknown
	origCwd    string // absolute working directory the command starts in; "" when unknown
	wrappers   map[string]bool
	allowPaths []string
	protected  []string
	// written records files the command writes with content the engine knows,
	// so that a script written by a heredoc and then run can be judged.
	written   map[string]*writtenFile
	gitCache  map[string]gitProt
	realCache map[string]string
	kept      *parsed
	secrets   secrets.State
}

type writtenFile struct {
	content string
	known   bool
}

func newRun(ctx context.Context, e *Engine, req *Request) *run {
	r := &run{eng: e, req: req, mode: req.Mode, ctx: ctx, deadline: e.now().Add(e.timeout)}
	if h, ok := req.Env["HOME"]; ok && filepath.IsAbs(h) {
		r.home = filepath.Clean(h)
	}
	if req.Cwd != "" && filepath.IsAbs(req.Cwd) {
		r.origCwd = filepath.Clean(req.Cwd)
	}
	r.wrappers = make(map[string]bool, len(req.Policy.Wrappers))
	for _, w := range req.Policy.Wrappers {
		r.wrappers[strings.ToLower(w)] = true
	}
	for _, p := range req.Policy.AllowPaths {
		if ap := r.absPolicyPath(p); ap != "" {
			r.allowPaths = append(r.allowPaths, ap)
		}
	}
	for _, p := range req.Policy.ProtectedPaths {
		if ap := r.absPolicyPath(p); ap != "" {
			r.protected = append(r.protected, ap)
		}
	}
	r.secrets = secrets.State{Cache: e.secrets, Now: e.now, CodexHome: req.Env["CODEX_HOME"], Off: req.Policy.DisableSecrets}
	for _, p := range req.Policy.SecretDenyPaths {
		if ap := r.absPolicyPath(p); ap != "" {
			r.secrets.Deny = append(r.secrets.Deny, ap)
		}
	}
	for _, p := range req.Policy.SecretAllowPaths {
		if ap := r.absPolicyPath(p); ap != "" {
			r.secrets.Allow = append(r.secrets.Allow, ap)
		}
	}
	return r
}

// absPolicyPath makes a policy path absolute: "~/" is home, relative paths are
// relative to the working directory.
func (r *run) absPolicyPath(p string) string {
	p = strings.TrimSpace(p)
	switch {
	case p == "":
		return ""
	case p == "~":
		return r.home
	case strings.HasPrefix(p, "~/"):
		if r.home == "" {
			return ""
		}
		return filepath.Join(r.home, p[2:])
	case filepath.IsAbs(p):
		return filepath.Clean(p)
	case r.origCwd != "":
		return filepath.Join(r.origCwd, p)
	}
	return ""
}

// Enabled reports whether rule id is active for this request.
func (r *run) Enabled(id string) bool {
	if strings.HasPrefix(id, guard.CustomRulePrefix) {
		return true
	}
	info, builtin := guard.LookupRule(id)
	if builtin && info.Catastrophic {
		return true
	}
	pol := &r.req.Policy
	if guard.IsSecretRule(id) {
		if pol.DisableSecrets {
			return false
		}
		if v, ok := pol.RuleSwitches[id]; ok {
			return v
		}
		return id != guard.RuleSecretAgentConfig
	}
	if pol.DisableDestructive {
		return false
	}
	if v, ok := pol.RuleSwitches[id]; ok {
		return v
	}
	if builtin && info.EnabledBy != 0 {
		return r.mode&info.EnabledBy != 0
	}
	return true
}

// Home is the home directory from the request's environment; "" when unknown.
func (r *run) Home() string { return r.home }

// StartDir is the absolute directory the command starts in; "" when unknown.
func (r *run) StartDir() string { return r.origCwd }

// AllowPaths are the policy's directories where recursive deletes are allowed.
func (r *run) AllowPaths() []string { return r.allowPaths }

// Aborted is the finding that stopped the analysis (a budget), if any.
func (r *run) Aborted() *family.Finding { return r.abort }

// MaxDepth bounds how deeply code handed to shells may nest.
func (r *run) MaxDepth() int { return r.eng.maxDepth }

// BothShells reports whether the request is read as bash and as PowerShell.
func (r *run) BothShells() bool { return r.req.Shell == ShellAuto }

// JudgeArgv judges a command another shell (PowerShell) runs, as a command
// of its own in a fresh shell state at depth.
func (r *run) JudgeArgv(args []family.Field, depth int, segment string) *family.Finding {
	sc := r.rootScope()
	sc.depth = depth
	return r.analyzeCall(&cmdCall{Call: family.Call{Args: args, Cwd: r.origCwd, Seg: segment, Shell: sc}, sc: sc})
}

// reserveParallel charges parallel expansion work and reports whether
// analysis may go on; past the budget r.abort blocks the command.
func (r *run) reserveParallel(w interp.ParallelWork, segment string) bool {
	if r.abort != nil {
		return false
	}
	if f := r.parallel.Reserve(w, segment); f != nil {
		r.abort = f
		return false
	}
	return true
}

// WrittenFile returns what the command wrote to path earlier (relative to
// cwd), and whether the engine knows the content.
func (r *run) WrittenFile(cwd, path string) (content string, known, ok bool) {
	wf := r.writtenFile(cwd, path)
	if wf == nil {
		return "", false, false
	}
	return wf.content, wf.known, true
}

// Protected are the policy's protected files, made absolute.
func (r *run) Protected() []string { return r.protected }

// Secrets is the state of the secret rules for this check.
func (r *run) Secrets() *secrets.State { return &r.secrets }

// Mode is the request's mode.
func (r *run) Mode() guard.Mode { return r.mode }

// Switched reports whether the policy switches rule id on explicitly.
func (r *run) Switched(id string) bool { return r.req.Policy.RuleSwitches[id] }

// Block returns a finding for rule id, or nil when the rule is switched off so
// that analysis continues with the other rules.
func (r *run) Block(id, reason, segment string) *family.Finding {
	if !r.Enabled(id) {
		return nil
	}
	return &family.Finding{Rule: id, Reason: reason, Segment: segment}
}

// Light analysis is trusted even when the clock says it overran: a short
// command judged in a few steps cannot be what made it slow, a GC pause or a
// starved CPU did (a hook started on a loaded laptop), and blocking
// "git status" for that would be a false alarm. The budget still bounds
// everything an input can make expensive.
const (
	lightSteps = 64
	lightBytes = 4 << 10
)

// overran reports whether the analysis is past its time budget and heavy
// enough for that to be the input's doing.
func (r *run) overran() bool {
	light := r.steps < lightSteps && len(r.req.Command) <= lightBytes
	return !light && r.eng.now().After(r.deadline)
}

// Step charges one unit of work and reports whether analysis may go on. Once a
// budget trips, r.abort holds the blocking finding and every caller unwinds.
func (r *run) Step(segment string) bool {
	if r.abort != nil {
		return false
	}
	r.steps++
	if r.steps > r.eng.maxSteps {
		r.abort = &family.Finding{Rule: guard.RuleEngineBudget, Segment: segment,
			Reason: "Command analysis exceeds the safety guard's work budget and cannot be judged safely; split it into simpler commands."}
		return false
	}
	if r.steps&15 == 0 {
		if r.ctx.Err() != nil || r.overran() {
			r.abort = &family.Finding{Rule: guard.RuleEngineTimeout, Segment: segment, Reason: reasonTimeout}
			return false
		}
	}
	return true
}

// maxDerivedTokens bounds the words of embedded command lines (the rest of a
// line after "tool git ...", each find -exec suffix, env -S splices) that one
// Check re-analyses. Such suffixes overlap, so without a bound the work grows
// with the square of the input. The figure is upstream's, which keeps the
// corpus' budget cases deciding alike.
const maxDerivedTokens = 16384

const reasonDerivedBudget = "Command analysis exceeds the safety guard's derived-command work limit; reduce nested or embedded command complexity."

// chargeDerived reserves n derived tokens and reports whether analysis may go
// on; once the budget is spent, r.abort blocks the command.
func (r *run) chargeDerived(n int, segment string) bool {
	if r.abort != nil {
		return false
	}
	if n < 0 || n > maxDerivedTokens-r.derived {
		r.abort = &family.Finding{Rule: guard.RuleEngineBudget, Segment: segment, Reason: reasonDerivedBudget}
		return false
	}
	r.derived += n
	return true
}

const reasonTimeout = "Command analysis exceeds the safety guard's time budget and cannot be judged safely; split it into simpler commands."

// judge analyses the whole request.
func (r *run) judge() *family.Finding {
	switch r.req.Shell {
	case ShellPowerShell:
		return r.firstOf(powershell.Judge(r, r.req.Command, 0))
	case ShellAuto:
		if f := powershell.Judge(r, r.req.Command, 0); f != nil {
			return r.firstOf(f)
		}
	}
	sc := r.rootScope()
	return r.firstOf(r.judgeScript(r.req.Command, sc, scriptTop))
}

// firstOf prefers an abort (budget, timeout) over a regular finding, because an
// aborted analysis may have skipped the part that mattered.
func (r *run) firstOf(f *family.Finding) *family.Finding {
	if r.abort != nil {
		return r.abort
	}
	return f
}
