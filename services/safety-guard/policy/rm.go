package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

const (
	reasonRmOutside   = "rm -rf outside cwd is blocked. Use explicit paths within the current directory, or delete manually."
	reasonRmRootHome  = "rm -rf targeting root or home directory is extremely dangerous and always blocked."
	reasonRmHomeCwd   = "rm -rf in home directory is dangerous. Change to a project directory first."
	reasonRmCwdSelf   = "rm -rf of the current directory is blocked. Delete specific paths inside it instead."
	reasonRmDynamic   = "rm -rf target contains shell variables or substitutions that cannot be resolved statically (%s); write the path literally."
	reasonRmParanoid  = "rm -rf outside cwd is blocked. Use explicit paths within the current directory, or delete manually. (paranoid rm: only temp directories may be removed recursively)"
	reasonGitMetadata = "Deleting git metadata (.git, hooks, worktree links) can destroy the repository. Ask the user to run it manually."
	reasonFindGitMeta = "find deletes git metadata (.git, hooks) reachable from its start paths. Narrow the search or exclude .git."
	reasonFindDelete  = "find -delete permanently removes files. Use -print first to preview."
	reasonFindExecRm  = "find -exec rm -rf is dangerous. Use explicit file list instead."
	reasonXargsRm     = "xargs rm -rf with dynamic input is dangerous. Use explicit file list instead."
	reasonParallelRm  = "parallel rm -rf with dynamic input is dangerous. Use explicit file list instead."
	reasonProtected   = "This path contains a protected policy file; the agent may not modify, move or delete it."
	reasonRawText     = "Unparseable or opaque command text contains a destructive command (%s); it cannot be analysed safely."
)

// rmFlags is the option summary of an rm command line.
type rmFlags struct {
	recursive, force bool
	targets          []family.Field
	dynOption        *family.Field // a non-static word in option position
}

func parseRm(args []family.Field, carrier string) rmFlags {
	var fl rmFlags
	past := false
	for _, a := range args[1:] {
		v := a.Val
		if past {
			fl.targets = append(fl.targets, a)
			continue
		}
		switch {
		case v == "--" && a.Static:
			past = true
		case strings.HasPrefix(v, "--") && a.Static:
			name, _, _ := strings.Cut(v, "=")
			if len(name) >= 4 && strings.HasPrefix("--recursive", name) {
				fl.recursive = true
			}
			if len(name) >= 3 && strings.HasPrefix("--force", name) {
				fl.force = true
			}
		case len(v) > 1 && v[0] == '-' && a.Static:
			if strings.ContainsAny(v[1:], "rR") {
				fl.recursive = true
			}
			if strings.Contains(v[1:], "f") {
				fl.force = true
			}
		case !a.Static && strings.HasPrefix(v, "-"):
			aa := a
			fl.dynOption = &aa
		case a.Subst && fl.dynOption == nil && (!a.Static || strings.HasPrefix(v, "-")):
			// Substitution output can add options (rm $(cat list)); the
			// strict rule wants such words literal even when computable.
			aa := a
			fl.dynOption = &aa
			if !a.Static || !strings.HasPrefix(v, "-") {
				fl.targets = append(fl.targets, a)
				continue
			}
			if strings.ContainsAny(v[1:], "rR") {
				fl.recursive = true
			}
			if strings.Contains(v[1:], "f") {
				fl.force = true
			}
		default:
			// Input that replaces a placeholder may be an option; input xargs
			// appends is taken as operands (like upstream), parallel's is not.
			if a.Input && fl.dynOption == nil && (!family.IsAppendedInput(a) || carrier == "parallel") && family.CouldBeOption(a) {
				aa := a
				fl.dynOption = &aa
			}
			fl.targets = append(fl.targets, a)
		}
	}
	return fl
}

type rmMode uint8

const (
	rmNormal   rmMode = iota
	rmRaw             // pattern scan of opaque text: any recursive force rm blocks
	rmFindExec        // rm run by find -exec on found files
)

// analyzeRm applies the rm rules: git metadata is protected from any rm,
// root and home from any recursive rm, and recursive forced removal is
// classified by target.
func (r *run) analyzeRm(cc *cmdCall, args []family.Field, mode rmMode) *family.Finding {
	fl := parseRm(args, cc.Carrier)
	base := family.CommandBase(args[0].Val)
	if base == "rmdir" || base == "unlink" {
		fl.recursive, fl.force = false, false
	}
	if fl.recursive {
		// Root and home first: the more sweeping finding explains better.
		for _, t := range fl.targets {
			if r.isRootOrHome(cc, t) {
				return r.Block(guard.RuleRmRootOrHome, reasonRmRootHome, cc.Seg)
			}
		}
	}
	if f := r.gitMetadataTargets(cc, fl.targets, fl.recursive); f != nil {
		return f
	}
	if fl.dynOption != nil {
		if fl.dynOption.Input {
			if f := family.CarrierDynamic(r, &cc.Call, "the input adds options to rm"); f != nil {
				return f
			}
			// With the shell rule off, the input can still make this a
			// recursive forced removal.
			return r.carrierRm(cc)
		}
		if mode == rmFindExec {
			return r.Block(guard.RuleFindExecRm, reasonFindExecRm, cc.Seg)
		}
		if f := family.DynStructure(r, &cc.Call, "an rm option is built from a substitution"); f != nil {
			return f
		}
	}
	if !fl.recursive {
		return nil
	}
	for _, t := range fl.targets {
		if r.isRootOrHome(cc, t) {
			return r.Block(guard.RuleRmRootOrHome, reasonRmRootHome, cc.Seg)
		}
	}
	if !fl.force {
		return nil
	}
	if mode == rmRaw {
		return r.Block(guard.RuleRawText, family.FmtReason(reasonRawText, "rm -rf"), cc.Seg)
	}
	if mode == rmFindExec {
		return r.Block(guard.RuleFindExecRm, reasonFindExecRm, cc.Seg)
	}
	for _, t := range fl.targets {
		if f := r.classifyRmTarget(cc, t); f != nil {
			return f
		}
	}
	return nil
}

// isRootOrHome recognises /, home and wildcard-only paths under them, in
// literal, variable ($HOME, ~) and resolved form.
func (r *run) isRootOrHome(cc *cmdCall, t family.Field) bool {
	v := strings.TrimSpace(t.Val)
	switch v {
	case "/", "/*", "~", "~/", "~/*", "$HOME", "$HOME/", "$HOME/*", "${HOME}", "${HOME}/", "${HOME}/*", "/.", "/..":
		return true
	}
	if !t.Static || v == "" {
		return false
	}
	p := v
	if !filepath.IsAbs(p) {
		if cc.Cwd == "" {
			return false
		}
		p = r.realPath(cc.Cwd) + "/" + p
	}
	comps := strings.Split(p, "/")
	for len(comps) > 1 {
		last := comps[len(comps)-1]
		if last == "" || last == "." || strings.Trim(last, "*") == "" {
			comps = comps[:len(comps)-1]
			continue
		}
		break
	}
	q := strings.Join(comps, "/")
	if q == "" {
		q = "/"
	}
	if hasGlobMeta(q) {
		return false
	}
	q = filepath.Clean(q)
	rq := r.realPath(q)
	if rq == "/" {
		return true
	}
	return r.home != "" && (q == r.home || rq == r.realPath(r.home))
}

// classifyRmTarget decides one target of rm -rf.
func (r *run) classifyRmTarget(cc *cmdCall, t family.Field) *family.Finding {
	v := t.Val
	if !t.Static {
		if t.Input {
			return r.carrierRm(cc)
		}
		return r.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)), cc.Seg)
	}
	if t.IFSSplit {
		return r.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)+" split by a custom IFS"), cc.Seg)
	}
	if t.Glob && r.mode.Has(guard.ModeStrict) {
		// What a pattern matches depends on the disk at run time.
		return r.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)), cc.Seg)
	}
	if strings.HasPrefix(v, "~") || strings.HasPrefix(v, "$") {
		// A literal tilde or dollar (quoted): not what the user probably meant,
		// and not inside the project.
		return r.Block(guard.RuleRmOutsideCwd, reasonRmOutside, cc.Seg)
	}
	if r.tmpdirOverridden(cc, t) {
		return r.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)+" with TMPDIR overridden"), cc.Seg)
	}
	if r.isTempPath(v) && tempEligible(t) {
		return nil
	}
	abs := v
	if !filepath.IsAbs(abs) {
		if cc.Cwd == "" {
			return r.Block(guard.RuleRmOutsideCwd, reasonRmOutside, cc.Seg)
		}
		abs = filepath.Join(cc.Cwd, v)
	}
	resolved := r.resolveTarget(abs, v)
	for _, ap := range r.allowPaths {
		if r.usableAllowPath(ap) && within(resolved, r.realPath(ap)) {
			return nil
		}
	}
	anchor := r.origCwd
	if anchor == "" || cc.sc == nil {
		return r.Block(guard.RuleRmOutsideCwd, reasonRmOutside, cc.Seg)
	}
	realAnchor := r.realPath(anchor)
	if r.home != "" && realAnchor == r.realPath(r.home) {
		return r.Block(guard.RuleRmHomeCwd, reasonRmHomeCwd, cc.Seg)
	}
	if v == "." || v == "./" || resolved == r.realPath(cc.Cwd) && cc.Cwd == anchor || resolved == realAnchor {
		return r.Block(guard.RuleRmCwdSelf, reasonRmCwdSelf, cc.Seg)
	}
	if strictlyWithin(resolved, realAnchor) || (t.Glob && within(resolved, realAnchor) && !strings.HasPrefix(filepath.Base(v), ".")) {
		if r.mode.Has(guard.ModeParanoidRm) || r.req.Policy.RuleSwitches[guard.RuleRmParanoid] {
			return r.Block(guard.RuleRmParanoid, reasonRmParanoid, cc.Seg)
		}
		return nil
	}
	return r.Block(guard.RuleRmOutsideCwd, reasonRmOutside, cc.Seg)
}

// resolveTarget resolves an absolute target the way rm sees it: symlinks in
// the parent are followed; the last component is followed only with a
// trailing slash.
func (r *run) resolveTarget(abs, literal string) string {
	if strings.HasSuffix(literal, "/") || strings.HasSuffix(literal, "/.") {
		return r.realPath(abs)
	}
	clean := filepath.Clean(abs)
	dir, base := filepath.Split(clean)
	if base == "" {
		return r.realPath(clean)
	}
	return filepath.Join(r.realPath(filepath.Clean(dir)), base)
}

// usableAllowPath ignores allow paths that would allow everything: the root,
// home, or an ancestor of home.
func (r *run) usableAllowPath(ap string) bool {
	rp := r.realPath(ap)
	if rp == "/" {
		return false
	}
	if r.home != "" && within(r.realPath(r.home), rp) {
		return false
	}
	return true
}

// gitMetadataTargets protects .git, git directories, hooks and their
// ancestors from deletion.
func (r *run) gitMetadataTargets(cc *cmdCall, targets []family.Field, recursive bool) *family.Finding {
	for _, t := range targets {
		if !t.Static || t.Val == "" {
			continue
		}
		abs := t.Val
		if !filepath.IsAbs(abs) {
			if cc.Cwd == "" {
				continue
			}
			abs = filepath.Join(cc.Cwd, abs)
		}
		if r.touchesGitMetadata(cc.Cwd, abs, t.Val, t.Glob, recursive) {
			return r.Block(guard.RuleRmGitMetadata, reasonGitMetadata, cc.Seg)
		}
		if base := filepath.Base(filepath.Clean(t.Val)); base == ".git" && filepath.Dir(filepath.Clean(t.Val)) == "." {
			// "rm -rf .git" is never routine, repository or not.
			return r.Block(guard.RuleRmGitMetadata, reasonGitMetadata, cc.Seg)
		}
	}
	return nil
}

// touchesGitMetadata reports whether deleting abs (recursively or not)
// deletes git metadata of the repository around cwd or around abs.
func (r *run) touchesGitMetadata(cwd, abs, literal string, glob, recursive bool) bool {
	abs = filepath.Clean(abs)
	dir, pat := filepath.Split(abs)
	dir = filepath.Clean(dir)
	var protected, hooks []string
	for _, d := range []string{cwd, dir, abs} {
		if d == "" {
			continue
		}
		p, h := r.gitProtected(d)
		protected = append(protected, p...)
		hooks = append(hooks, h...)
	}
	if len(protected) == 0 {
		return false
	}
	if glob && hasGlobMeta(pat) {
		rd := r.realPath(dir)
		for _, p := range protected {
			if rd == p {
				return true
			}
			if filepath.Dir(p) == rd && globMatch(pat, filepath.Base(p)) {
				return true
			}
			if recursive && strictlyWithin(p, rd) {
				rel, _ := filepath.Rel(rd, p)
				first := strings.SplitN(rel, string(filepath.Separator), 2)[0]
				if globMatch(pat, first) {
					return true
				}
			}
		}
		for _, h := range hooks {
			if within(rd, h) {
				return true
			}
		}
		return false
	}
	target := r.resolveTarget(abs, literal)
	for _, p := range protected {
		if target == p || (recursive && strictlyWithin(p, target)) {
			return true
		}
	}
	for _, h := range hooks {
		if strictlyWithin(target, h) {
			return true
		}
	}
	return false
}

// tempEligible reports whether a target may count as a temp path: a literal
// path, or one built from $TMPDIR only. A path reached through ~ or $HOME is
// never scratch space, even when home happens to live under /tmp.
func tempEligible(t family.Field) bool {
	for _, v := range t.Vars {
		if v != "TMPDIR" {
			return false
		}
	}
	return true
}

// tmpdirOverridden reports a target built from $TMPDIR while the command's
// own environment sets TMPDIR to something that is not a temp directory: the
// analysis cannot tell which value the author meant.
func (r *run) tmpdirOverridden(cc *cmdCall, t family.Field) bool {
	uses := false
	for _, v := range t.Vars {
		if v == "TMPDIR" {
			uses = true
		}
	}
	if !uses {
		return false
	}
	v, ok := cc.EnvValue("TMPDIR")
	if !ok {
		return false
	}
	return !v.Static || !r.isTempPath(v.Val)
}
