package git

import (
	"strconv"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
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
	reasonAlias             = "Git aliases supplied through command-line or environment config can hide or execute commands. Run git without Git alias overrides, or ask the user to run it manually."
	reasonSSH               = "Git network commands with an SSH command override (GIT_SSH, GIT_SSH_COMMAND, core.sshCommand) can run arbitrary programs. Ask the user to run it manually."
)

// match is a git rule that matched.
type match struct {
	Rule, Reason string
	// LocalDiscard marks rules that only lose local, uncommitted state; worktree
	// mode may relax them inside a verified linked worktree.
	LocalDiscard bool
}

// Immutable tables of git option syntax.
var (
	gitGlobalWithValue = family.NameSet("-c", "-C", "--git-dir", "--work-tree", "--namespace", "--super-prefix", "--config-env", "--exec-path", "--attr-source", "--list-cmds")
	checkoutWithValue  = family.NameSet("-b", "-B", "--orphan", "--conflict", "--inter-hunk-context", "--pathspec-from-file", "--unified")
	checkoutOptional   = family.NameSet("--recurse-submodules", "--track", "-t")
	restoreWithValue   = family.NameSet("--source", "--conflict", "--unified", "--inter-hunk-context")
	networkCommands    = family.NameSet("fetch", "pull", "push", "clone", "ls-remote", "fetch-pack", "send-pack", "submodule")
	envContext         = []string{"GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR", "GIT_INDEX_FILE"}
	envConfig          = family.NameSet("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_SYSTEM", "HOME", "XDG_CONFIG_HOME")
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

// invocation is a git command line split into its global part and subcommand.
type invocation struct {
	Sub      string         // lower-cased subcommand; "" when none
	SubField family.Field   // the subcommand as written
	Rest     []family.Field // arguments after the subcommand
	Cwd      string         // directory git runs in after -C; "" when unknown
	Explicit bool           // --git-dir or --work-tree given
	Configs  []config       // -c and --config-env entries
	Dynamic  bool           // a global option could not be resolved
	Input    bool           // carrier input lands among the global options
	Global   []family.Field
}

type config struct {
	Key, Val string
	Known    bool
}

func parseInvocation(args []family.Field, cwd string, env map[string]family.Field) invocation {
	inv := invocation{Cwd: cwd}
	i := 1
	addCfg := func(f family.Field) {
		if !f.Static {
			inv.Dynamic = true
		}
		k, v, ok := strings.Cut(f.Val, "=")
		if !ok {
			v = "true"
		}
		inv.Configs = append(inv.Configs, config{Key: strings.ToLower(k), Val: v, Known: f.Static})
	}
	addCfgEnv := func(f family.Field) {
		k, envName, ok := strings.Cut(f.Val, "=")
		if !ok {
			inv.Dynamic = true
			return
		}
		c := config{Key: strings.ToLower(k)}
		if !f.Static {
			inv.Dynamic = true
			// The key is static when the substitution sits in the value part.
			if strings.ContainsAny(k, "$`…") {
				return
			}
		}
		if ev, ok := env[envName]; ok && ev.Static && f.Static {
			c.Val, c.Known = ev.Val, true
		}
		inv.Configs = append(inv.Configs, c)
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
		inv.Global = append(inv.Global, a)
		switch {
		case v == "-C":
			if i+1 < len(args) {
				inv.Cwd = family.ResolveDir(inv.Cwd, args[i+1])
				inv.Global = append(inv.Global, args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "-C"):
			inv.Cwd = family.ResolveDir(inv.Cwd, family.Field{Val: v[2:], Static: a.Static})
		case v == "-c":
			if i+1 < len(args) {
				addCfg(args[i+1])
				inv.Global = append(inv.Global, args[i+1])
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
			inv.Explicit = true
			i += 2
			continue
		case strings.HasPrefix(v, "--git-dir=") || strings.HasPrefix(v, "--work-tree="):
			inv.Explicit = true
		case gitGlobalWithValue[v]:
			if i+1 < len(args) && !args[i+1].Static {
				inv.Dynamic = true
			}
			i += 2
			continue
		}
		if !a.Static {
			inv.Dynamic = true
		}
		i++
	}
	for _, a := range args[1:min(i, len(args))] {
		inv.Input = inv.Input || a.Input
		// Substitution output in a global option can redirect git even when
		// the engine computed it; strict mode wants it literal.
		inv.Dynamic = inv.Dynamic || a.Subst
	}
	if i < len(args) {
		inv.SubField = args[i]
		inv.Sub = strings.ToLower(args[i].Val)
		inv.Rest = args[i+1:]
	}
	return inv
}

var guarded = family.NameSet("checkout", "switch", "restore", "reset", "clean", "rm", "push", "branch", "stash", "worktree", "rebase", "merge", "tag", "reflog")

// matchSubcommand applies the subcommand rules.
func matchSubcommand(sub string, rest []string) *match {
	local := func(rule, reason string) *match { return &match{Rule: rule, Reason: reason, LocalDiscard: true} }
	shared := func(rule, reason string) *match { return &match{Rule: rule, Reason: reason} }
	switch sub {
	case "checkout":
		if m := gitCheckout(rest); m != nil {
			m.LocalDiscard = true
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
		var m *match
		for _, t := range rest {
			if longOpt(t, "--hard") {
				m = &match{Rule: guard.RuleGitResetHard, Reason: reasonResetHard}
				break
			}
			if longOpt(t, "--merge") {
				m = &match{Rule: guard.RuleGitResetMerge, Reason: reasonResetMerge}
				break
			}
		}
		if m == nil {
			return nil
		}
		m.LocalDiscard = !resetHasRef(rest)
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

func gitCheckout(ts []string) *match {
	before, _, hasDash := splitDashDash(ts)
	so := shortOpts(before, "bBU")
	for _, t := range before {
		if longOpt(t, "--force") {
			return &match{Rule: guard.RuleGitCheckoutForce, Reason: reasonCheckoutForce}
		}
	}
	if so['f'] {
		return &match{Rule: guard.RuleGitCheckoutForce, Reason: reasonCheckoutForce}
	}
	for _, t := range ts {
		if t == "-b" || t == "-B" || t == "--orphan" {
			return nil
		}
		if longOpt(t, "--pathspec-from-file") {
			return &match{Rule: guard.RuleGitCheckoutPathspec, Reason: reasonCheckoutPathspec}
		}
	}
	if hasDash {
		for _, t := range before {
			if !strings.HasPrefix(t, "-") {
				return &match{Rule: guard.RuleGitCheckoutRefPath, Reason: reasonCheckoutRefPath}
			}
		}
		return &match{Rule: guard.RuleGitCheckoutDiscard, Reason: reasonCheckoutDiscard}
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
		return &match{Rule: guard.RuleGitCheckoutAmbiguous, Reason: reasonCheckoutAmbiguous}
	}
	return nil
}

func gitRestore(ts []string) *match {
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
		return &match{Rule: guard.RuleGitRestoreWorktree, Reason: reasonRestoreWorktree, LocalDiscard: true}
	}
	return &match{Rule: guard.RuleGitRestore, Reason: reasonRestore, LocalDiscard: true}
}

// envConfigs reads config entries git takes from GIT_CONFIG_COUNT/KEY/VALUE
// and GIT_CONFIG_PARAMETERS. A malformed set is reported in bad: git would
// either reject it or read something the engine cannot predict.
func envConfigs(env map[string]family.Field) (cfgs []config, bad string) {
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
		cfgs = append(cfgs, config{Key: strings.ToLower(k.Val), Val: v.Val, Known: v.Static})
	}
	return cfgs, bad
}

// parseConfigParameters reads GIT_CONFIG_PARAMETERS: space-separated,
// single-quoted 'key=value' entries.
func parseConfigParameters(s string) ([]config, bool) {
	words, ok := family.SplitEnvString(s)
	if !ok {
		return nil, false
	}
	var out []config
	for _, w := range words {
		k, v, has := strings.Cut(w.Val, "=")
		if !has {
			v = "true"
		}
		out = append(out, config{Key: strings.ToLower(k), Val: v, Known: true})
	}
	return out, true
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

func RawCommand(words []string) string {
	// The same global-option skipping as parseGitInvocation, on strings:
	// raw text can be long, and converting it to fields costs more than
	// the scan.
	i := 1
	for i < len(words) {
		v := words[i]
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") || v == "-" {
			break
		}
		switch {
		case v == "-C" || v == "-c" || v == "--config-env" || v == "--git-dir" || v == "--work-tree" || gitGlobalWithValue[v]:
			i += 2
		default:
			i++
		}
	}
	if i >= len(words) {
		return ""
	}
	sub := strings.ToLower(words[i])
	if m := matchSubcommand(sub, words[i+1:]); m != nil {
		return "git " + sub
	}
	return ""
}
