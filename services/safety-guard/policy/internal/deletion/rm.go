package deletion

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
	ReasonGitMetadata = "Deleting git metadata (.git, hooks, worktree links) can destroy the repository. Ask the user to run it manually."
	reasonFindGitMeta = "find deletes git metadata (.git, hooks) reachable from its start paths. Narrow the search or exclude .git."
	reasonFindDelete  = "find -delete permanently removes files. Use -print first to preview."
	reasonFindExecRm  = "find -exec rm -rf is dangerous. Use explicit file list instead."
	reasonXargsRm     = "xargs rm -rf with dynamic input is dangerous. Use explicit file list instead."
	reasonParallelRm  = "parallel rm -rf with dynamic input is dangerous. Use explicit file list instead."
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

// rmMode says who runs rm.
type rmMode uint8

const (
	rmNormal   rmMode = iota
	rmFindExec        // find -exec, on the files found
)

// judgeRm applies the rm rules: git metadata is protected from any rm,
// root and home from any recursive rm, and recursive forced removal is
// classified by target.
func judgeRm(ctx Context, c *family.Call, mode rmMode) *family.Finding {
	args := c.Args
	fl := parseRm(args, c.Carrier)
	base := family.CommandBase(args[0].Val)
	if base == "rmdir" || base == "unlink" {
		fl.recursive, fl.force = false, false
	}
	if fl.recursive {
		// Root and home first: the more sweeping finding explains better.
		for _, t := range fl.targets {
			if IsRootOrHome(ctx, c.Cwd, t) {
				return ctx.Block(guard.RuleRmRootOrHome, reasonRmRootHome, c.Seg)
			}
		}
	}
	if f := gitMetadataTargets(ctx, c, fl.targets, fl.recursive); f != nil {
		return f
	}
	if fl.dynOption != nil {
		if fl.dynOption.Input {
			if f := family.CarrierDynamic(ctx, c, "the input adds options to rm"); f != nil {
				return f
			}
			// With the shell rule off, the input can still make this a
			// recursive forced removal.
			return carrierRm(ctx, c)
		}
		if mode == rmFindExec {
			return ctx.Block(guard.RuleFindExecRm, reasonFindExecRm, c.Seg)
		}
		if f := family.DynStructure(ctx, c, "an rm option is built from a substitution"); f != nil {
			return f
		}
	}
	if !fl.recursive {
		return nil
	}
	for _, t := range fl.targets {
		if IsRootOrHome(ctx, c.Cwd, t) {
			return ctx.Block(guard.RuleRmRootOrHome, reasonRmRootHome, c.Seg)
		}
	}
	if !fl.force {
		return nil
	}
	if mode == rmFindExec {
		return ctx.Block(guard.RuleFindExecRm, reasonFindExecRm, c.Seg)
	}
	for _, t := range fl.targets {
		if f := classifyTarget(ctx, c, t); f != nil {
			return f
		}
	}
	return nil
}

// IsRootOrHome recognises /, home and wildcard-only paths under them, in
// literal, variable ($HOME, ~) and resolved form.
func IsRootOrHome(ctx family.Places, cwd string, t family.Field) bool {
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
		if cwd == "" {
			return false
		}
		p = ctx.RealPath(cwd) + "/" + p
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
	if family.HasGlobMeta(q) {
		return false
	}
	q = filepath.Clean(q)
	rq := ctx.RealPath(q)
	if rq == "/" {
		return true
	}
	return ctx.Home() != "" && (q == ctx.Home() || rq == ctx.RealPath(ctx.Home()))
}

// classifyTarget decides one target of rm -rf.
func classifyTarget(ctx Context, c *family.Call, t family.Field) *family.Finding {
	v := t.Val
	if !t.Static {
		if t.Input {
			return carrierRm(ctx, c)
		}
		return ctx.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)), c.Seg)
	}
	if t.IFSSplit {
		return ctx.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)+" split by a custom IFS"), c.Seg)
	}
	if t.Glob && ctx.Mode().Has(guard.ModeStrict) {
		// What a pattern matches depends on the disk at run time.
		return ctx.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)), c.Seg)
	}
	if strings.HasPrefix(v, "~") || strings.HasPrefix(v, "$") {
		// A literal tilde or dollar (quoted): not what the user probably meant,
		// and not inside the project.
		return ctx.Block(guard.RuleRmOutsideCwd, reasonRmOutside, c.Seg)
	}
	if tmpdirOverridden(ctx, c, t) {
		return ctx.Block(guard.RuleRmDynamicTarget, family.FmtReason(reasonRmDynamic, family.Clip(t.Src)+" with TMPDIR overridden"), c.Seg)
	}
	if ctx.IsTempPath(v) && tempEligible(t) {
		return nil
	}
	abs := v
	if !filepath.IsAbs(abs) {
		if c.Cwd == "" {
			return ctx.Block(guard.RuleRmOutsideCwd, reasonRmOutside, c.Seg)
		}
		abs = filepath.Join(c.Cwd, v)
	}
	resolved := ResolveTarget(ctx, abs, v)
	for _, ap := range ctx.AllowPaths() {
		if UsableAllowPath(ctx, ap) && family.Within(resolved, ctx.RealPath(ap)) {
			return nil
		}
	}
	anchor := ctx.StartDir()
	if anchor == "" {
		return ctx.Block(guard.RuleRmOutsideCwd, reasonRmOutside, c.Seg)
	}
	realAnchor := ctx.RealPath(anchor)
	if ctx.Home() != "" && realAnchor == ctx.RealPath(ctx.Home()) {
		return ctx.Block(guard.RuleRmHomeCwd, reasonRmHomeCwd, c.Seg)
	}
	if v == "." || v == "./" || resolved == ctx.RealPath(c.Cwd) && c.Cwd == anchor || resolved == realAnchor {
		return ctx.Block(guard.RuleRmCwdSelf, reasonRmCwdSelf, c.Seg)
	}
	if family.StrictlyWithin(resolved, realAnchor) || (t.Glob && family.Within(resolved, realAnchor) && !strings.HasPrefix(filepath.Base(v), ".")) {
		if ctx.Mode().Has(guard.ModeParanoidRm) || ctx.Switched(guard.RuleRmParanoid) {
			return ctx.Block(guard.RuleRmParanoid, reasonRmParanoid, c.Seg)
		}
		return nil
	}
	return ctx.Block(guard.RuleRmOutsideCwd, reasonRmOutside, c.Seg)
}

// ResolveTarget resolves an absolute target the way rm sees it: symlinks in
// the parent are followed; the last component is followed only with a
// trailing slash.
func ResolveTarget(ctx family.Places, abs, literal string) string {
	if strings.HasSuffix(literal, "/") || strings.HasSuffix(literal, "/.") {
		return ctx.RealPath(abs)
	}
	clean := filepath.Clean(abs)
	dir, base := filepath.Split(clean)
	if base == "" {
		return ctx.RealPath(clean)
	}
	return filepath.Join(ctx.RealPath(filepath.Clean(dir)), base)
}

// UsableAllowPath ignores allow paths that would allow everything: the root,
// home, or an ancestor of home.
func UsableAllowPath(ctx family.Places, ap string) bool {
	rp := ctx.RealPath(ap)
	if rp == "/" {
		return false
	}
	if ctx.Home() != "" && family.Within(ctx.RealPath(ctx.Home()), rp) {
		return false
	}
	return true
}

// gitMetadataTargets protects .git, git directories, hooks and their
// ancestors from deletion.
func gitMetadataTargets(ctx Context, c *family.Call, targets []family.Field, recursive bool) *family.Finding {
	for _, t := range targets {
		if !t.Static || t.Val == "" {
			continue
		}
		abs := t.Val
		if !filepath.IsAbs(abs) {
			if c.Cwd == "" {
				continue
			}
			abs = filepath.Join(c.Cwd, abs)
		}
		if TouchesGitMetadata(ctx, c.Cwd, abs, t.Val, t.Glob, recursive) {
			return ctx.Block(guard.RuleRmGitMetadata, ReasonGitMetadata, c.Seg)
		}
		if base := filepath.Base(filepath.Clean(t.Val)); base == ".git" && filepath.Dir(filepath.Clean(t.Val)) == "." {
			// "rm -rf .git" is never routine, repository or not.
			return ctx.Block(guard.RuleRmGitMetadata, ReasonGitMetadata, c.Seg)
		}
	}
	return nil
}

// TouchesGitMetadata reports whether deleting abs (recursively or not)
// deletes git metadata of the repository around cwd or around abs.
func TouchesGitMetadata(ctx family.Places, cwd, abs, literal string, glob, recursive bool) bool {
	abs = filepath.Clean(abs)
	dir, pat := filepath.Split(abs)
	dir = filepath.Clean(dir)
	var protected, hooks []string
	for _, d := range []string{cwd, dir, abs} {
		if d == "" {
			continue
		}
		p, h := ctx.GitMetadata(d)
		protected = append(protected, p...)
		hooks = append(hooks, h...)
	}
	if len(protected) == 0 {
		return false
	}
	if glob && family.HasGlobMeta(pat) {
		rd := ctx.RealPath(dir)
		for _, p := range protected {
			if rd == p {
				return true
			}
			if filepath.Dir(p) == rd && family.GlobMatch(pat, filepath.Base(p)) {
				return true
			}
			if recursive && family.StrictlyWithin(p, rd) {
				rel, _ := filepath.Rel(rd, p)
				first := strings.SplitN(rel, string(filepath.Separator), 2)[0]
				if family.GlobMatch(pat, first) {
					return true
				}
			}
		}
		for _, h := range hooks {
			if family.Within(rd, h) {
				return true
			}
		}
		return false
	}
	target := ResolveTarget(ctx, abs, literal)
	for _, p := range protected {
		if target == p || (recursive && family.StrictlyWithin(p, target)) {
			return true
		}
	}
	for _, h := range hooks {
		if family.StrictlyWithin(target, h) {
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
func tmpdirOverridden(ctx Context, c *family.Call, t family.Field) bool {
	uses := false
	for _, v := range t.Vars {
		if v == "TMPDIR" {
			uses = true
		}
	}
	if !uses {
		return false
	}
	v, ok := c.EnvValue("TMPDIR")
	if !ok {
		return false
	}
	return !v.Static || !ctx.IsTempPath(v.Val)
}
