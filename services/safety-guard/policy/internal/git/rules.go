package git

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/gitrepo"
)

// Context is what the git rules need of the walker: how to decide. Git's
// configuration also comes from the shell variables the command sees
// (Call.Shell).
type Context interface {
	family.Verdicts
}

// commandEnv returns the environment git would see: exported shell variables
// (including the inherited environment) overlaid with the command's assignments.
func commandEnv(ctx Context, c *family.Call) map[string]family.Field {
	env := map[string]family.Field{}
	for k, v := range c.Shell.Vars() {
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
	for _, a := range c.Env {
		env[a.Name] = a.Val
	}
	return env
}

// Judge applies the git rules to a git command line.
func Judge(ctx Context, c *family.Call) *family.Finding {
	args := c.Args
	env := commandEnv(ctx, c)
	inv := parseInvocation(args, c.Cwd, env)

	// Git config injected through the environment.
	cfgs, bad := envConfigs(env)
	if bad != "" {
		if f := ctx.Block(guard.RuleGitAliasConfig, reasonAlias+" ("+bad+")", c.Seg); f != nil {
			return f
		}
	}
	cfgs = append(cfgs, inv.Configs...)

	// Aliases defined on the command line or environment.
	aliases := map[string]config{}
	for _, cfg := range cfgs {
		if strings.HasPrefix(cfg.Key, "alias.") {
			aliases[strings.TrimPrefix(cfg.Key, "alias.")] = cfg
		}
	}
	for depth := 0; inv.Sub != "" && len(aliases) > 0; depth++ {
		a, ok := aliases[inv.Sub]
		if !ok {
			break
		}
		if depth >= 5 || !a.Known || strings.HasPrefix(strings.TrimSpace(a.Val), "!") || strings.TrimSpace(a.Val) == "" {
			if f := ctx.Block(guard.RuleGitAliasConfig, reasonAlias, c.Seg); f != nil {
				return f
			}
			break
		}
		words, ok := family.SplitEnvString(a.Val)
		if !ok || len(words) == 0 {
			if f := ctx.Block(guard.RuleGitAliasConfig, reasonAlias, c.Seg); f != nil {
				return f
			}
			break
		}
		inv.SubField = words[0]
		inv.Sub = strings.ToLower(words[0].Val)
		inv.Rest = append(words[1:], inv.Rest...)
	}

	if inv.Input {
		// -c and --config-env from the input can define aliases or hooks.
		if f := family.CarrierDynamic(ctx, c, "the input sets git global options"); f != nil {
			return f
		}
	}
	if f := sshOverride(ctx, c, inv, env, cfgs); f != nil {
		return f
	}

	if !inv.SubField.Static && inv.Sub != "" {
		if inv.SubField.Input {
			return family.CarrierDynamic(ctx, c, "the git subcommand comes from the input")
		}
		return family.DynStructure(ctx, c, "the git subcommand is built from a substitution")
	}
	if inv.Dynamic && ctx.Mode().Has(guard.ModeStrict) {
		if f := family.DynStructure(ctx, c, "a git global option is built from a substitution"); f != nil {
			return f
		}
	}

	rest := family.Vals(inv.Rest)
	m := matchSubcommand(inv.Sub, rest)
	if m == nil {
		return carrierCheck(ctx, c, inv)
	}
	// Dynamic arguments of a guarded subcommand.
	for _, f := range inv.Rest {
		if !f.Static && f.Input {
			return family.CarrierDynamic(ctx, c, "the input adds arguments to git "+inv.Sub)
		}
	}
	// Config the engine could not read may point git anywhere, so a rule
	// switched off for it does not earn the worktree relaxation either.
	if bad == "" && worktreeRelaxes(ctx, c, inv, m, env, cfgs) {
		return nil
	}
	return ctx.Block(m.Rule, m.Reason, c.Seg)
}

// carrierCheck blocks guarded git subcommands whose options come from
// xargs or parallel input, and (in strict mode) from substitutions.
func carrierCheck(ctx Context, c *family.Call, inv invocation) *family.Finding {
	if !guarded[inv.Sub] {
		return nil
	}
	for _, f := range inv.Rest {
		if f.Val == "--" && f.Static {
			return nil
		}
		if !f.Static {
			if f.Input {
				return family.CarrierDynamic(ctx, c, "the input adds options to git "+inv.Sub)
			}
			if fnd := family.DynStructure(ctx, c, "an option of git "+inv.Sub+" is built from a substitution"); fnd != nil {
				return fnd
			}
		}
	}
	return nil
}

func sshOverride(ctx Context, c *family.Call, inv invocation, env map[string]family.Field, cfgs []config) *family.Finding {
	network := networkCommands[inv.Sub]
	switch inv.Sub {
	case "archive":
		for _, a := range inv.Rest {
			if strings.HasPrefix(a.Val, "--remote") {
				network = true
			}
		}
	case "remote":
		for _, a := range inv.Rest {
			if a.Val == "update" || a.Val == "prune" {
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
	for _, cfg := range cfgs {
		if cfg.Key == "core.sshcommand" {
			override = "core.sshCommand"
		}
	}
	if override == "" {
		return nil
	}
	return ctx.Block(guard.RuleGitSSHOverride, reasonSSH+" ("+override+")", c.Seg)
}

// worktreeRelaxes reports whether worktree mode lets a local-discard git rule
// pass: the command must run, unredirected, inside a verified linked worktree
// whose configuration cannot pull submodules into the blast radius.
func worktreeRelaxes(ctx Context, c *family.Call, inv invocation, m *match, env map[string]family.Field, cfgs []config) bool {
	if !m.LocalDiscard || !ctx.Mode().Has(guard.ModeWorktree) {
		return false
	}
	for _, name := range envContext {
		if _, ok := env[name]; ok {
			return false
		}
	}
	if inv.Explicit || inv.Cwd == "" || inv.Dynamic {
		return false
	}
	for _, a := range c.Env {
		// An environment value from carrier input or a substitution could
		// be anything git reads, so only literal assignments keep the
		// relaxation.
		if envConfig[a.Name] || !a.Val.Static || a.Val.Input {
			return false
		}
	}
	for k, v := range c.Shell.Vars() {
		if envConfig[k] && v.Exported && v.FromScript {
			return false
		}
		// Strict mode does not rely on tracking export state (set -a,
		// declare -x, typeset): any git variable the script sets counts.
		if ctx.Mode().Has(guard.ModeStrict) && v.FromScript && strings.HasPrefix(k, "GIT_") {
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
	if forcedBranchReset(inv.Sub, rest) {
		return false
	}
	if inv.Sub == "clean" && countCleanForce(rest) > 1 {
		return false
	}
	if recursesSubmodules(inv, env, cfgs) {
		return false
	}
	return true
}

func recursesSubmodules(inv invocation, env map[string]family.Field, cfgs []config) bool {
	// Command line and environment config decide first, like git does.
	decided, recurse := false, false
	for _, cfg := range cfgs {
		if cfg.Key == "include.path" || (strings.HasPrefix(cfg.Key, "includeif.") && strings.HasSuffix(cfg.Key, ".path")) {
			return true
		}
		if cfg.Key == "submodule.recurse" {
			decided = true
			recurse = !cfg.Known || gitrepo.TruthyValue(cfg.Val)
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
