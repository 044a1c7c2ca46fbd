package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/gitrepo"
)

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
	inv := git.ParseInvocation(args, cc.Cwd, env)

	// Git config injected through the environment.
	cfgs, bad := git.EnvConfigs(env)
	if bad != "" {
		if f := r.block(guard.RuleGitAliasConfig, git.ReasonAlias+" ("+bad+")", cc.Seg); f != nil {
			return f
		}
	}
	cfgs = append(cfgs, inv.Configs...)

	// Aliases defined on the command line or environment.
	aliases := map[string]git.Config{}
	for _, c := range cfgs {
		if strings.HasPrefix(c.Key, "alias.") {
			aliases[strings.TrimPrefix(c.Key, "alias.")] = c
		}
	}
	for depth := 0; inv.Sub != "" && len(aliases) > 0; depth++ {
		a, ok := aliases[inv.Sub]
		if !ok {
			break
		}
		if depth >= 5 || !a.Known || strings.HasPrefix(strings.TrimSpace(a.Val), "!") || strings.TrimSpace(a.Val) == "" {
			if f := r.block(guard.RuleGitAliasConfig, git.ReasonAlias, cc.Seg); f != nil {
				return f
			}
			break
		}
		words, ok := family.SplitEnvString(a.Val)
		if !ok || len(words) == 0 {
			if f := r.block(guard.RuleGitAliasConfig, git.ReasonAlias, cc.Seg); f != nil {
				return f
			}
			break
		}
		inv.SubField = words[0]
		inv.Sub = strings.ToLower(words[0].Val)
		inv.Rest = append(words[1:], inv.Rest...)
	}
	for _, c := range inv.Configs {
		if c.Key == "" && !c.Known {
			continue
		}
	}

	if inv.Input {
		// -c and --config-env from the input can define aliases or hooks.
		if f := r.carrierDynamic(cc, "the input sets git global options"); f != nil {
			return f
		}
	}
	if f := r.gitSSH(cc, inv, env, cfgs); f != nil {
		return f
	}

	if !inv.SubField.Static && inv.Sub != "" {
		if inv.SubField.Input {
			return r.carrierDynamic(cc, "the git subcommand comes from the input")
		}
		return r.dynStructure(cc, "the git subcommand is built from a substitution")
	}
	if inv.Dynamic && r.mode.Has(guard.ModeStrict) {
		if f := r.dynStructure(cc, "a git global option is built from a substitution"); f != nil {
			return f
		}
	}

	rest := family.Vals(inv.Rest)
	m := git.MatchSubcommand(inv.Sub, rest)
	if m == nil {
		return r.gitCarrierCheck(cc, inv)
	}
	// Dynamic arguments of a guarded subcommand.
	for _, f := range inv.Rest {
		if !f.Static && f.Input {
			return r.carrierDynamic(cc, "the input adds arguments to git "+inv.Sub)
		}
	}
	// Config the engine could not read may point git anywhere, so a rule
	// switched off for it does not earn the worktree relaxation either.
	if bad == "" && r.worktreeRelaxes(cc, inv, m, env, cfgs) {
		return nil
	}
	return r.block(m.Rule, m.Reason, cc.Seg)
}

// gitCarrierCheck blocks guarded git subcommands whose options come from
// xargs or parallel input, and (in strict mode) from substitutions.
func (r *run) gitCarrierCheck(cc *cmdCall, inv git.Invocation) *family.Finding {
	if !git.Guarded[inv.Sub] {
		return nil
	}
	for _, f := range inv.Rest {
		if f.Val == "--" && f.Static {
			return nil
		}
		if !f.Static {
			if f.Input {
				return r.carrierDynamic(cc, "the input adds options to git "+inv.Sub)
			}
			if fnd := r.dynStructure(cc, "an option of git "+inv.Sub+" is built from a substitution"); fnd != nil {
				return fnd
			}
		}
	}
	return nil
}

func (r *run) gitSSH(cc *cmdCall, inv git.Invocation, env map[string]family.Field, cfgs []git.Config) *family.Finding {
	network := git.NetworkCommands[inv.Sub]
	switch inv.Sub {
	case "archive":
		for _, a := range inv.Rest {
			if strings.HasPrefix(a.Val, "--remote") {
				network = true
			}
		}
	case "remote":
		for _, a := range inv.Rest {
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
		if c.Key == "core.sshcommand" {
			override = "core.sshCommand"
		}
	}
	if override == "" {
		return nil
	}
	return r.block(guard.RuleGitSSHOverride, git.ReasonSSH+" ("+override+")", cc.Seg)
}

// worktreeRelaxes reports whether worktree mode lets a local-discard git rule
// pass: the command must run, unredirected, inside a verified linked worktree
// whose configuration cannot pull submodules into the blast radius.
func (r *run) worktreeRelaxes(cc *cmdCall, inv git.Invocation, m *git.Match, env map[string]family.Field, cfgs []git.Config) bool {
	if !m.LocalDiscard || !r.mode.Has(guard.ModeWorktree) {
		return false
	}
	for _, name := range git.EnvContext {
		if _, ok := env[name]; ok {
			return false
		}
	}
	if inv.Explicit || inv.Cwd == "" || inv.Dynamic {
		return false
	}
	for _, a := range cc.Env {
		// An environment value from carrier input or a substitution could
		// be anything git reads, so only literal assignments keep the
		// relaxation.
		if git.EnvConfig[a.Name] || !a.Val.Static || a.Val.Input {
			return false
		}
	}
	for k, v := range cc.sc.vars {
		if git.EnvConfig[k] && v.Exported && v.FromScript {
			return false
		}
		// Strict mode does not rely on tracking export state (set -a,
		// declare -x, typeset): any git variable the script sets counts.
		if r.mode.Has(guard.ModeStrict) && v.FromScript && strings.HasPrefix(k, "GIT_") {
			return false
		}
	}
	if !gitrepo.IsLinkedWorktree(inv.Cwd) {
		return false
	}
	for _, a := range inv.Rest {
		if !a.Static || strings.ContainsAny(a.Val, "$*?[") || a.Glob {
			return false
		}

		if strings.HasPrefix(a.Val, "--recurse-sub") {
			return false
		}
	}
	rest := family.Vals(inv.Rest)
	if git.ForcedBranchReset(inv.Sub, rest) {
		return false
	}
	if inv.Sub == "clean" && git.CountCleanForce(rest) > 1 {
		return false
	}
	if r.recursesSubmodules(inv, env, cfgs) {
		return false
	}
	return true
}

func (r *run) recursesSubmodules(inv git.Invocation, env map[string]family.Field, cfgs []git.Config) bool {
	// Command line and environment config decide first, like git does.
	decided, recurse := false, false
	for _, c := range cfgs {
		if c.Key == "include.path" || (strings.HasPrefix(c.Key, "includeif.") && strings.HasSuffix(c.Key, ".path")) {
			return true
		}
		if c.Key == "submodule.recurse" {
			decided = true
			recurse = !c.Known || gitrepo.TruthyValue(c.Val)
		}
	}
	if decided {
		return recurse
	}
	if _, ok := env["GIT_CONFIG_PARAMETERS"]; ok {
		return true
	}
	local, ok := gitrepo.LocalConfigFiles(inv.Cwd)
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
