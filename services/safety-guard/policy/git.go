package policy

import (
	"path/filepath"
	"strconv"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/gitrepo"
)

const (
	reasonCheckoutDiscard   = "git checkout -- discards uncommitted changes permanently. Use 'git stash' first."
	reasonCheckoutForce     = "git checkout --force discards uncommitted changes. Use 'git stash' first."
	reasonCheckoutRefPath   = "git checkout <ref> -- <path> overwrites working tree with ref version. Use 'git stash' first."
	reasonCheckoutPathspec  = "git checkout --pathspec-from-file can overwrite multiple files. Use 'git stash' first."
	reasonCheckoutAmbiguous = "git checkout with multiple positional args may overwrite files. Use 'git switch' for branches or 'git restore' for files."
	reasonSwitchDiscard     = "git switch --discard-changes discards uncommitted changes. Use 'git stash' first."
	reasonSwitchForce       = "git switch --force discards uncommitted changes. Use 'git stash' first."
	reasonRestore           = "git restore discards uncommitted changes. Use 'git stash' first, or use --staged to only unstage."
	reasonRestoreWorktree   = "git restore --worktree explicitly discards working tree changes. Use 'git stash' first."
	reasonResetHard         = "git reset --hard destroys all uncommitted changes permanently. Use 'git stash' first."
	reasonResetMerge        = "git reset --merge can lose uncommitted changes. Use 'git stash' first."
	reasonClean             = "git clean -f removes untracked files permanently. Use 'git clean -n' to preview first."
	reasonGitRm             = "git rm --force removes tracked files from the working tree. Use 'git rm --cached' to keep the files, or 'git rm --dry-run' to preview first."
	reasonPushForce         = "git push --force destroys remote history. Use --force-with-lease for safer force push."
	reasonPushDelete        = "git push deletes remote refs. Ask the user to run it manually if deletion is intended."
	reasonPushMirror        = "git push --mirror can force-update and delete remote refs. Ask the user to run it manually if mirror push is intended."
	reasonBranchDelete      = "git branch -D force-deletes without merge check. Use -d for safe delete."
	reasonRebaseAbort       = "git rebase --abort discards rebase conflict resolutions. Use 'git status' first."
	reasonMergeAbort        = "git merge --abort discards merge conflict resolutions. Use 'git status' first."
	reasonTagDelete         = "git tag -d permanently deletes tags. Ask the user to run it manually if deletion is intended."
	reasonReflogDelete      = "git reflog delete removes recovery history. Ask the user to run it manually if deletion is intended."
	reasonReflogExpire      = "git reflog expire removes recovery history. Ask the user to run it manually if deletion is intended."
	reasonStashDrop         = "git stash drop permanently deletes stashed changes. Consider 'git stash list' first."
	reasonStashClear        = "git stash clear deletes ALL stashed changes permanently."
	reasonWorktreeRemove    = "git worktree remove --force can delete uncommitted changes. Remove --force flag."
	reasonGitAlias          = "Git aliases supplied through command-line or environment config can hide or execute commands. Run git without Git alias overrides, or ask the user to run it manually."
	reasonGitSSH            = "Git network commands with an SSH command override (GIT_SSH, GIT_SSH_COMMAND, core.sshCommand) can run arbitrary programs. Ask the user to run it manually."
)

// gitMatch is a git rule that matched.
type gitMatch struct {
	rule, reason string
	// localDiscard marks rules that only lose local, uncommitted state; worktree
	// mode may relax them inside a verified linked worktree.
	localDiscard bool
}

// Immutable tables of git option syntax.
var (
	gitGlobalWithValue = family.NameSet("-c", "-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env", "--exec-path", "--attr-source", "--list-cmds")
	checkoutWithValue  = family.NameSet("-b", "-B", "--orphan", "--conflict", "--inter-hunk-context", "--pathspec-from-file", "--unified")
	checkoutOptional   = family.NameSet("--recurse-submodules", "--track", "-t")
	restoreWithValue   = family.NameSet("--source", "--conflict", "--unified", "--inter-hunk-context")
	gitNetworkCommands = family.NameSet("fetch", "pull", "push", "clone", "ls-remote", "fetch-pack", "send-pack", "submodule")
	gitEnvContext      = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE"}
	gitEnvConfig       = family.NameSet("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "HOME", "XDG_CONFIG_HOME")
)

// longOpt reports whether token is option or an unambiguous-enough
// abbreviation of it, as git accepts ("--forc" for "--force").
func longOpt(token, option string) bool {
	name := token
	if i := strings.IndexByte(token, '='); i >= 0 {
		name = token[:i]
	}
	return len(name) >= 4 && strings.HasPrefix(name, "--") && strings.HasPrefix(option, name)
}

// shortOpts collects the letters of short-option clusters before "--"; a
// letter in withValue ends its cluster because the rest is its value.
func shortOpts(tokens []string, withValue string) map[byte]bool {
	m := map[byte]bool{}
	for _, t := range tokens {
		if t == "--" {
			break
		}
		if len(t) < 2 || t[0] != '-' || t[1] == '-' {
			continue
		}
		for j := 1; j < len(t); j++ {
			c := t[j]
			if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
				break
			}
			m[c] = true
			if strings.IndexByte(withValue, c) >= 0 {
				break
			}
		}
	}
	return m
}

func splitDashDash(ts []string) ([]string, []string, bool) {
	for i, t := range ts {
		if t == "--" {
			return ts[:i], ts[i+1:], true
		}
	}
	return ts, nil, false
}

// gitInvocation is a git command line split into its global part and subcommand.
type gitInvocation struct {
	sub      string         // lower-cased subcommand; "" when none
	subField family.Field   // the subcommand as written
	rest     []family.Field // arguments after the subcommand
	cwd      string         // directory git runs in after -C; "" when unknown
	explicit bool           // --git-dir or --work-tree given
	configs  []gitCfg       // -c and --config-env entries
	dynamic  bool           // a global option could not be resolved
	input    bool           // carrier input lands among the global options
	global   []family.Field
}

type gitCfg struct {
	key, val string
	known    bool
}

func parseGitInvocation(args []family.Field, cwd string, env map[string]family.Field) gitInvocation {
	inv := gitInvocation{cwd: cwd}
	i := 1
	addCfg := func(f family.Field) {
		if !f.Static {
			inv.dynamic = true
		}
		k, v, ok := strings.Cut(f.Val, "=")
		if !ok {
			v = "true"
		}
		inv.configs = append(inv.configs, gitCfg{key: strings.ToLower(k), val: v, known: f.Static})
	}
	addCfgEnv := func(f family.Field) {
		k, envName, ok := strings.Cut(f.Val, "=")
		if !ok {
			inv.dynamic = true
			return
		}
		c := gitCfg{key: strings.ToLower(k)}
		if !f.Static {
			inv.dynamic = true
			// The key is static when the substitution sits in the value part.
			if strings.ContainsAny(k, "$`…") {
				return
			}
		}
		if ev, ok := env[envName]; ok && ev.Static && f.Static {
			c.val, c.known = ev.Val, true
		}
		inv.configs = append(inv.configs, c)
	}
	for i < len(args) {
		a := args[i]
		v := a.Val
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") || v == "-" {
			break
		}
		inv.global = append(inv.global, a)
		switch {
		case v == "-C":
			if i+1 < len(args) {
				inv.cwd = resolveDir(inv.cwd, args[i+1])
				inv.global = append(inv.global, args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "-C"):
			inv.cwd = resolveDir(inv.cwd, family.Field{Val: v[2:], Static: a.Static})
		case v == "-c":
			if i+1 < len(args) {
				addCfg(args[i+1])
				inv.global = append(inv.global, args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "-c"):
			f := a
			f.Val = v[2:]
			addCfg(f)
		case v == "--config-env":
			if i+1 < len(args) {
				addCfgEnv(args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "--config-env="):
			f := a
			f.Val = v[len("--config-env="):]
			addCfgEnv(f)
		case v == "--git-dir" || v == "--work-tree":
			inv.explicit = true
			i += 2
			continue
		case strings.HasPrefix(v, "--git-dir=") || strings.HasPrefix(v, "--work-tree="):
			inv.explicit = true
		case gitGlobalWithValue[v]:
			if i+1 < len(args) && !args[i+1].Static {
				inv.dynamic = true
			}
			i += 2
			continue
		}
		if !a.Static {
			inv.dynamic = true
		}
		i++
	}
	for _, a := range args[1:min(i, len(args))] {
		inv.input = inv.input || a.Input
		// Substitution output in a global option can redirect git even when
		// the engine computed it; strict mode wants it literal.
		inv.dynamic = inv.dynamic || a.Subst
	}
	if i < len(args) {
		inv.subField = args[i]
		inv.sub = strings.ToLower(args[i].Val)
		inv.rest = args[i+1:]
	}
	return inv
}

// gitEnv returns the environment git would see: exported shell variables
// (including the inherited environment) overlaid with the command's assignments.
func gitEnv(cc *cmdCall) map[string]family.Field {
	env := map[string]family.Field{}
	for k, v := range cc.sc.vars {
		if !v.Exported {
			continue
		}
		if !v.Known {
			env[k] = family.Field{Val: "$" + k}
			continue
		}
		if v.Set {
			env[k] = family.Field{Val: v.Val, Static: true}
		}
	}
	for _, a := range cc.Env {
		env[a.Name] = a.Val
	}
	return env
}

// analyzeGit applies the git rules to a git command line.
func (r *run) analyzeGit(cc *cmdCall, args []family.Field) *family.Finding {
	env := gitEnv(cc)
	inv := parseGitInvocation(args, cc.Cwd, env)

	// Git config injected through the environment.
	cfgs, bad := gitEnvConfigs(env)
	if bad != "" {
		if f := r.block(guard.RuleGitAliasConfig, reasonGitAlias+" ("+bad+")", cc.Seg); f != nil {
			return f
		}
	}
	cfgs = append(cfgs, inv.configs...)

	// Aliases defined on the command line or environment.
	aliases := map[string]gitCfg{}
	for _, c := range cfgs {
		if strings.HasPrefix(c.key, "alias.") {
			aliases[strings.TrimPrefix(c.key, "alias.")] = c
		}
	}
	for depth := 0; inv.sub != "" && len(aliases) > 0; depth++ {
		a, ok := aliases[inv.sub]
		if !ok {
			break
		}
		if depth >= 5 || !a.known || strings.HasPrefix(strings.TrimSpace(a.val), "!") || strings.TrimSpace(a.val) == "" {
			if f := r.block(guard.RuleGitAliasConfig, reasonGitAlias, cc.Seg); f != nil {
				return f
			}
			break
		}
		words, ok := family.SplitEnvString(a.val)
		if !ok || len(words) == 0 {
			if f := r.block(guard.RuleGitAliasConfig, reasonGitAlias, cc.Seg); f != nil {
				return f
			}
			break
		}
		inv.subField = words[0]
		inv.sub = strings.ToLower(words[0].Val)
		inv.rest = append(words[1:], inv.rest...)
	}
	for _, c := range inv.configs {
		if c.key == "" && !c.known {
			continue
		}
	}

	if inv.input {
		// -c and --config-env from the input can define aliases or hooks.
		if f := r.carrierDynamic(cc, "the input sets git global options"); f != nil {
			return f
		}
	}
	if f := r.gitSSH(cc, inv, env, cfgs); f != nil {
		return f
	}

	if !inv.subField.Static && inv.sub != "" {
		if inv.subField.Input {
			return r.carrierDynamic(cc, "the git subcommand comes from the input")
		}
		return r.dynStructure(cc, "the git subcommand is built from a substitution")
	}
	if inv.dynamic && r.mode.Has(guard.ModeStrict) {
		if f := r.dynStructure(cc, "a git global option is built from a substitution"); f != nil {
			return f
		}
	}

	rest := family.Vals(inv.rest)
	m := gitRule(inv.sub, rest)
	if m == nil {
		return r.gitCarrierCheck(cc, inv)
	}
	// Dynamic arguments of a guarded subcommand.
	for _, f := range inv.rest {
		if !f.Static && f.Input {
			return r.carrierDynamic(cc, "the input adds arguments to git "+inv.sub)
		}
	}
	// Config the engine could not read may point git anywhere, so a rule
	// switched off for it does not earn the worktree relaxation either.
	if bad == "" && r.worktreeRelaxes(cc, inv, m, env, cfgs) {
		return nil
	}
	return r.block(m.rule, m.reason, cc.Seg)
}

// gitCarrierCheck blocks guarded git subcommands whose options come from
// xargs or parallel input, and (in strict mode) from substitutions.
func (r *run) gitCarrierCheck(cc *cmdCall, inv gitInvocation) *family.Finding {
	if !gitGuarded[inv.sub] {
		return nil
	}
	for _, f := range inv.rest {
		if f.Val == "--" && f.Static {
			return nil
		}
		if !f.Static {
			if f.Input {
				return r.carrierDynamic(cc, "the input adds options to git "+inv.sub)
			}
			if fnd := r.dynStructure(cc, "an option of git "+inv.sub+" is built from a substitution"); fnd != nil {
				return fnd
			}
		}
	}
	return nil
}

var gitGuarded = family.NameSet("checkout", "switch", "restore", "reset", "clean", "rm", "push", "branch", "stash", "worktree", "rebase", "merge", "tag", "reflog")

// gitRule applies the subcommand rules.
func gitRule(sub string, rest []string) *gitMatch {
	local := func(rule, reason string) *gitMatch { return &gitMatch{rule: rule, reason: reason, localDiscard: true} }
	shared := func(rule, reason string) *gitMatch { return &gitMatch{rule: rule, reason: reason} }
	switch sub {
	case "checkout":
		if m := gitCheckout(rest); m != nil {
			m.localDiscard = true
			return m
		}
	case "switch":
		before, _, _ := splitDashDash(rest)
		for _, t := range before {
			if longOpt(t, "--discard-changes") {
				return local(guard.RuleGitSwitchDiscard, reasonSwitchDiscard)
			}
		}
		so := shortOpts(before, "cC")
		for _, t := range before {
			if longOpt(t, "--force") {
				return local(guard.RuleGitSwitchForce, reasonSwitchForce)
			}
		}
		if so['f'] {
			return local(guard.RuleGitSwitchForce, reasonSwitchForce)
		}
	case "restore":
		return gitRestore(rest)
	case "reset":
		var m *gitMatch
		for _, t := range rest {
			if longOpt(t, "--hard") {
				m = &gitMatch{rule: guard.RuleGitResetHard, reason: reasonResetHard}
				break
			}
			if longOpt(t, "--merge") {
				m = &gitMatch{rule: guard.RuleGitResetMerge, reason: reasonResetMerge}
				break
			}
		}
		if m == nil {
			return nil
		}
		m.localDiscard = !resetHasRef(rest)
		return m
	case "clean":
		for _, t := range rest {
			if t == "-n" || longOpt(t, "--dry-run") {
				return nil
			}
		}
		var ts []string
		for _, t := range rest {
			if t != "--" {
				ts = append(ts, t)
			}
		}
		so := shortOpts(ts, "")
		for _, t := range rest {
			if longOpt(t, "--force") {
				return local(guard.RuleGitCleanForce, reasonClean)
			}
		}
		if so['f'] {
			return local(guard.RuleGitCleanForce, reasonClean)
		}
	case "rm":
		force, cached, dry := false, false, false
		before, _, _ := splitDashDash(rest)
		for _, t := range before {
			switch {
			case longOpt(t, "--no-force"):
				force = false
			case longOpt(t, "--force"):
				force = true
			case longOpt(t, "--no-cached"):
				cached = false
			case longOpt(t, "--cached"):
				cached = true
			case longOpt(t, "--no-dry-run"):
				dry = false
			case longOpt(t, "--dry-run"):
				dry = true
			default:
				so := shortOpts([]string{t}, "")
				force = force || so['f']
				dry = dry || so['n']
			}
		}
		if force && !cached && !dry {
			return local(guard.RuleGitRmForce, reasonGitRm)
		}
	case "push":
		before, after, _ := splitDashDash(rest)
		so := shortOpts(before, "o")
		for _, t := range before {
			if longOpt(t, "--mirror") {
				return shared(guard.RuleGitPushMirror, reasonPushMirror)
			}
		}
		refs := make([]string, 0, len(rest))
		for _, t := range before {
			if t != "" && !strings.HasPrefix(t, "-") {
				refs = append(refs, t)
			}
		}
		refs = append(refs, after...)
		force := so['f']
		for _, t := range before {
			if longOpt(t, "--force") {
				force = true
			}
		}
		for _, ref := range refs {
			if strings.HasPrefix(ref, "+") || strings.Contains(ref, ":+") {
				force = true
			}
		}
		if force {
			return shared(guard.RuleGitPushForce, reasonPushForce)
		}
		del := so['d']
		for _, t := range before {
			if longOpt(t, "--delete") {
				del = true
			}
		}
		for _, ref := range refs {
			if len(ref) > 1 && ref[0] == ':' {
				del = true
			}
		}
		if del {
			return shared(guard.RuleGitPushDelete, reasonPushDelete)
		}
	case "branch":
		before, _, _ := splitDashDash(rest)
		so := shortOpts(before, "")
		del := so['D'] || so['d']
		force := so['D'] || so['f']
		for _, t := range before {
			if longOpt(t, "--delete") {
				del = true
			}
			if longOpt(t, "--force") {
				force = true
			}
		}
		if del && force {
			return shared(guard.RuleGitBranchForceDelete, reasonBranchDelete)
		}
	case "stash":
		for _, t := range rest {
			if t == "drop" {
				return shared(guard.RuleGitStashDrop, reasonStashDrop)
			}
			if t == "clear" {
				return shared(guard.RuleGitStashClear, reasonStashClear)
			}
		}
	case "worktree":
		hasRemove := false
		for _, t := range rest {
			if t == "remove" {
				hasRemove = true
			}
		}
		if !hasRemove {
			return nil
		}
		before, _, _ := splitDashDash(rest)
		so := shortOpts(before, "")
		for _, t := range before {
			if longOpt(t, "--force") {
				return shared(guard.RuleGitWorktreeRemove, reasonWorktreeRemove)
			}
		}
		if so['f'] {
			return shared(guard.RuleGitWorktreeRemove, reasonWorktreeRemove)
		}
	case "rebase", "merge":
		before, _, _ := splitDashDash(rest)
		for _, t := range before {
			if longOpt(t, "--abort") {
				if sub == "rebase" {
					return local(guard.RuleGitRebaseAbort, reasonRebaseAbort)
				}
				return local(guard.RuleGitMergeAbort, reasonMergeAbort)
			}
		}
	case "tag":
		before, _, _ := splitDashDash(rest)
		so := shortOpts(before, "mFuf")
		if so['d'] {
			return shared(guard.RuleGitTagDelete, reasonTagDelete)
		}
		for _, t := range before {
			if longOpt(t, "--delete") {
				return shared(guard.RuleGitTagDelete, reasonTagDelete)
			}
		}
	case "reflog":
		for _, t := range rest {
			if t == "delete" {
				return shared(guard.RuleGitReflogDelete, reasonReflogDelete)
			}
			if t == "expire" {
				// Expiring entries deletes them as surely as delete does.
				return shared(guard.RuleGitReflogDelete, reasonReflogExpire)
			}
			if !strings.HasPrefix(t, "-") {
				break
			}
		}
	}
	return nil
}

func resetHasRef(ts []string) bool {
	for _, t := range ts {
		if t == "--" {
			return false
		}
		if !strings.HasPrefix(t, "-") {
			return true
		}
	}
	return false
}

func gitCheckout(ts []string) *gitMatch {
	before, _, hasDash := splitDashDash(ts)
	so := shortOpts(before, "bBU")
	for _, t := range before {
		if longOpt(t, "--force") {
			return &gitMatch{rule: guard.RuleGitCheckoutForce, reason: reasonCheckoutForce}
		}
	}
	if so['f'] {
		return &gitMatch{rule: guard.RuleGitCheckoutForce, reason: reasonCheckoutForce}
	}
	for _, t := range ts {
		if t == "-b" || t == "-B" || t == "--orphan" {
			return nil
		}
		if longOpt(t, "--pathspec-from-file") {
			return &gitMatch{rule: guard.RuleGitCheckoutPathspec, reason: reasonCheckoutPathspec}
		}
	}
	if hasDash {
		for _, t := range before {
			if !strings.HasPrefix(t, "-") {
				return &gitMatch{rule: guard.RuleGitCheckoutRefPath, reason: reasonCheckoutRefPath}
			}
		}
		return &gitMatch{rule: guard.RuleGitCheckoutDiscard, reason: reasonCheckoutDiscard}
	}
	positional := 0
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t == "--" {
			break
		}
		if !strings.HasPrefix(t, "-") {
			positional++
			continue
		}
		switch {
		case checkoutWithValue[t]:
			i++
		case strings.HasPrefix(t, "--") && strings.Contains(t, "="):
		case checkoutOptional[t]:
			if i+1 < len(ts) && !strings.HasPrefix(ts[i+1], "-") {
				next := ts[i+1]
				if (t == "--recurse-submodules" && (next == "checkout" || next == "on-demand")) || (t != "--recurse-submodules" && (next == "direct" || next == "inherit")) {
					i++
				}
			}
		}
	}
	if positional >= 2 {
		return &gitMatch{rule: guard.RuleGitCheckoutAmbiguous, reason: reasonCheckoutAmbiguous}
	}
	return nil
}

func gitRestore(ts []string) *gitMatch {
	pathspec, patch, worktree, explicit := false, false, true, false
	setLoc := func(wt int) {
		if !explicit {
			worktree, explicit = false, true
		}
		if wt >= 0 {
			worktree = wt == 1
		}
	}
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		switch {
		case t == "--":
			pathspec = pathspec || i+1 < len(ts)
			i = len(ts)
			continue
		case t == "--pathspec-from-file":
			pathspec = true
			i++
			continue
		case strings.HasPrefix(t, "--pathspec-from-file="):
			pathspec = true
			continue
		case t == "-h" || t == "--help" || t == "--version":
			return nil
		case t == "--staged" || t == "--no-staged":
			setLoc(-1)
			continue
		case t == "--worktree":
			setLoc(1)
			continue
		case t == "--no-worktree":
			setLoc(0)
			continue
		case t == "--patch":
			patch = true
			continue
		case t == "--no-patch":
			patch = false
			continue
		case restoreWithValue[t]:
			i++
			continue
		case strings.HasPrefix(t, "--"):
			continue
		case t == "-" || !strings.HasPrefix(t, "-"):
			pathspec = true
			continue
		}
		for j := 1; j < len(t); j++ {
			switch t[j] {
			case 'h':
				return nil
			case 'S':
				setLoc(-1)
			case 'W':
				setLoc(1)
			case 'p':
				patch = true
			case 's', 'U':
				if j == len(t)-1 {
					i++
				}
				j = len(t)
			}
		}
	}
	if (!pathspec && !patch) || !worktree {
		return nil
	}
	if explicit {
		return &gitMatch{rule: guard.RuleGitRestoreWorktree, reason: reasonRestoreWorktree, localDiscard: true}
	}
	return &gitMatch{rule: guard.RuleGitRestore, reason: reasonRestore, localDiscard: true}
}

// gitEnvConfigs reads config entries git takes from GIT_CONFIG_COUNT/KEY/VALUE
// and GIT_CONFIG_PARAMETERS. A malformed set is reported in bad: git would
// either reject it or read something the engine cannot predict.
func gitEnvConfigs(env map[string]family.Field) (cfgs []gitCfg, bad string) {
	if p, ok := env["GIT_CONFIG_PARAMETERS"]; ok {
		if !p.Static || strings.TrimSpace(p.Val) == "" {
			bad = "GIT_CONFIG_PARAMETERS"
		} else if entries, ok := parseConfigParameters(p.Val); ok {
			cfgs = append(cfgs, entries...)
		} else {
			bad = "GIT_CONFIG_PARAMETERS"
		}
	}
	c, ok := env["GIT_CONFIG_COUNT"]
	if !ok || (c.Static && c.Val == "") {
		return cfgs, bad
	}
	if !c.Static {
		return cfgs, "GIT_CONFIG_COUNT"
	}
	n, err := strconv.Atoi(c.Val)
	if err != nil || n < 0 || n > 1024 || strconv.Itoa(n) != c.Val {
		return cfgs, "GIT_CONFIG_COUNT=" + c.Val
	}
	for i := 0; i < n; i++ {
		k, kok := env["GIT_CONFIG_KEY_"+strconv.Itoa(i)]
		v, vok := env["GIT_CONFIG_VALUE_"+strconv.Itoa(i)]
		if !kok || !vok || !k.Static || k.Val == "" {
			return cfgs, "GIT_CONFIG_KEY_" + strconv.Itoa(i)
		}
		cfgs = append(cfgs, gitCfg{key: strings.ToLower(k.Val), val: v.Val, known: v.Static})
	}
	return cfgs, bad
}

// parseConfigParameters reads GIT_CONFIG_PARAMETERS: space-separated,
// single-quoted 'key=value' entries.
func parseConfigParameters(s string) ([]gitCfg, bool) {
	words, ok := family.SplitEnvString(s)
	if !ok {
		return nil, false
	}
	var out []gitCfg
	for _, w := range words {
		k, v, has := strings.Cut(w.Val, "=")
		if !has {
			v = "true"
		}
		out = append(out, gitCfg{key: strings.ToLower(k), val: v, known: true})
	}
	return out, true
}

func (r *run) gitSSH(cc *cmdCall, inv gitInvocation, env map[string]family.Field, cfgs []gitCfg) *family.Finding {
	network := gitNetworkCommands[inv.sub]
	switch inv.sub {
	case "archive":
		for _, a := range inv.rest {
			if strings.HasPrefix(a.Val, "--remote") {
				network = true
			}
		}
	case "remote":
		for _, a := range inv.rest {
			if a.Val == "update" || a.Val == "prune" || a.Val == "show" && false {
				network = true
			}
		}
	}
	if !network {
		return nil
	}
	override := ""
	for _, name := range []string{"GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT"} {
		if v, ok := env[name]; ok && (!v.Static || v.Val != "") {
			override = name
		}
	}
	for _, c := range cfgs {
		if c.key == "core.sshcommand" {
			override = "core.sshCommand"
		}
	}
	if override == "" {
		return nil
	}
	return r.block(guard.RuleGitSSHOverride, reasonGitSSH+" ("+override+")", cc.Seg)
}

// worktreeRelaxes reports whether worktree mode lets a local-discard git rule
// pass: the command must run, unredirected, inside a verified linked worktree
// whose configuration cannot pull submodules into the blast radius.
func (r *run) worktreeRelaxes(cc *cmdCall, inv gitInvocation, m *gitMatch, env map[string]family.Field, cfgs []gitCfg) bool {
	if !m.localDiscard || !r.mode.Has(guard.ModeWorktree) {
		return false
	}
	for _, name := range gitEnvContext {
		if _, ok := env[name]; ok {
			return false
		}
	}
	if inv.explicit || inv.cwd == "" || inv.dynamic {
		return false
	}
	for _, a := range cc.Env {
		// An environment value from carrier input or a substitution could
		// be anything git reads, so only literal assignments keep the
		// relaxation.
		if gitEnvConfig[a.Name] || !a.Val.Static || a.Val.Input {
			return false
		}
	}
	for k, v := range cc.sc.vars {
		if gitEnvConfig[k] && v.Exported && v.FromScript {
			return false
		}
		// Strict mode does not rely on tracking export state (set -a,
		// declare -x, typeset): any git variable the script sets counts.
		if r.mode.Has(guard.ModeStrict) && v.FromScript && strings.HasPrefix(k, "GIT_") {
			return false
		}
	}
	if !gitrepo.IsLinkedWorktree(inv.cwd) {
		return false
	}
	for _, a := range inv.rest {
		if !a.Static || strings.ContainsAny(a.Val, "$*?[") || a.Glob {
			return false
		}

		if strings.HasPrefix(a.Val, "--recurse-sub") {
			return false
		}
	}
	rest := family.Vals(inv.rest)
	if forcedBranchReset(inv.sub, rest) {
		return false
	}
	if inv.sub == "clean" && countCleanForce(rest) > 1 {
		return false
	}
	if r.recursesSubmodules(inv, env, cfgs) {
		return false
	}
	return true
}

func (r *run) recursesSubmodules(inv gitInvocation, env map[string]family.Field, cfgs []gitCfg) bool {
	// Command line and environment config decide first, like git does.
	decided, recurse := false, false
	for _, c := range cfgs {
		if c.key == "include.path" || (strings.HasPrefix(c.key, "includeif.") && strings.HasSuffix(c.key, ".path")) {
			return true
		}
		if c.key == "submodule.recurse" {
			decided = true
			recurse = !c.known || gitrepo.TruthyValue(c.val)
		}
	}
	if decided {
		return recurse
	}
	if _, ok := env["GIT_CONFIG_PARAMETERS"]; ok {
		return true
	}
	local, ok := gitrepo.LocalConfigFiles(inv.cwd)
	if !ok {
		return true
	}
	files := append([]string(nil), local...)
	// Global and system config, resolved from the command's environment; an
	// unknown home means the global config cannot be checked.
	home, hok := env["HOME"]
	if !hok || !home.Static || home.Val == "" {
		return true
	}
	if g, ok := env["GIT_CONFIG_GLOBAL"]; ok {
		if !g.Static {
			return true
		}
		files = append(files, g.Val)
	} else {
		files = append(files, filepath.Join(home.Val, ".gitconfig"))
		if x, ok := env["XDG_CONFIG_HOME"]; ok && x.Static && x.Val != "" {
			files = append(files, filepath.Join(x.Val, "git", "config"))
		} else {
			files = append(files, filepath.Join(home.Val, ".config", "git", "config"))
		}
	}
	if _, off := env["GIT_CONFIG_NOSYSTEM"]; !off {
		if s, ok := env["GIT_CONFIG_SYSTEM"]; ok {
			if !s.Static {
				return true
			}
			files = append(files, s.Val)
		} else {
			files = append(files, "/etc/gitconfig")
		}
	}
	return gitrepo.RecursesSubmodules(files...)
}

func forcedBranchReset(sub string, rest []string) bool {
	before, _, _ := splitDashDash(rest)
	switch sub {
	case "checkout":
		so := shortOpts(before, "bBU")
		force := so['f']
		reset := so['B']
		for _, t := range before {
			if longOpt(t, "--force") {
				force = true
			}
			if strings.HasPrefix(t, "-B") {
				reset = true
			}
		}
		return force && reset
	case "switch":
		so := shortOpts(before, "cC")
		force := so['f']
		create := so['C']
		for _, t := range before {
			if longOpt(t, "--force") || longOpt(t, "--discard-changes") {
				force = true
			}
			name, _, _ := strings.Cut(t, "=")
			if strings.HasPrefix(t, "-C") || (len(name) >= len("--force-c") && strings.HasPrefix("--force-create", name)) {
				create = true
			}
		}
		return force && create
	}
	return false
}

func countCleanForce(rest []string) int {
	n := 0
	for _, t := range rest {
		if t == "--force" {
			n++
			continue
		}
		if strings.HasPrefix(t, "-") && !strings.HasPrefix(t, "--") {
			n += strings.Count(t[1:], "f")
		}
	}
	return n
}
