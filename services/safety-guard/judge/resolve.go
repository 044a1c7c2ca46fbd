// Package judge decides a check request (rpc.GuardCheckRequest) with the
// engine in this process: how the policies that apply combine into the
// engine's request (Resolve), for the service and for every local judgement,
// and the decision when the service cannot be asked (Locally), for the
// agents' hook and phantom guard check.
package judge

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/guardclient"
	"github.com/phantom-run/phantom/services/safety-guard/policy"
)

// Layer is one policy that applies to a check, in increasing precedence.
type Layer struct {
	// Name says where the policy comes from, for replies and audits:
	// "global", "workspace:<path>", "profile:<name>", "rules:<file>".
	Name   string
	Policy events.GuardPolicy
}

// Resolve builds the engine's request for req: base is the mode when no
// layer names one; the layers apply in order, then the rule files req
// carries (each a layer), then req's own mode. It returns the request and
// the names of the layers that applied. An error names the layer and the
// field that cannot be applied; the caller blocks the command with
// RuleInvalidPolicy rather than judge it under a policy the user did not
// write.
//
// Layers combine field by field: the last mode wins; rules accumulate, a
// later rule replacing an earlier one of the same name; rule switches merge
// per id; path and wrapper lists accumulate; the two switches (destructive,
// secrets) take the last value set. Every rule file is added to the
// protected paths, so the agent cannot edit the rules that bind it.
func Resolve(req rpc.GuardCheckRequest, base guard.Mode, layers []Layer) (policy.Request, []string, error) {
	out := policy.Request{Command: req.Command, Cwd: req.Cwd, Env: req.Env, Mode: base}
	shell, err := parseShell(req.Shell)
	if err != nil {
		return out, nil, err
	}
	out.Shell = shell
	all := layers
	if len(req.RuleFiles) > 0 {
		all = make([]Layer, 0, len(layers)+len(req.RuleFiles))
		all = append(all, layers...)
		for i, f := range req.RuleFiles {
			l, err := ruleFileLayer(f)
			if err != nil {
				return out, nil, fmt.Errorf("ruleFiles[%d]: %w", i, err)
			}
			all = append(all, l)
		}
	}
	var (
		names    []string
		rules    []events.GuardRule
		switches map[string]bool
	)
	for _, l := range all {
		p := l.Policy
		if p.Mode != "" {
			m, err := guard.ParseMode(p.Mode)
			if err != nil {
				return out, nil, fmt.Errorf("policy %s: mode: %w", l.Name, err)
			}
			out.Mode = m
		}
		for _, r := range p.Rules {
			rules = replaceRule(rules, r)
		}
		for id, on := range p.RuleSwitches {
			if switches == nil {
				switches = map[string]bool{}
			}
			switches[id] = on
		}
		if p.DisableDestructive != nil {
			out.Policy.DisableDestructive = *p.DisableDestructive
		}
		if p.DisableSecrets != nil {
			out.Policy.DisableSecrets = *p.DisableSecrets
		}
		out.Policy.AllowPaths = append(out.Policy.AllowPaths, p.AllowPaths...)
		out.Policy.Wrappers = append(out.Policy.Wrappers, p.Wrappers...)
		out.Policy.SecretDenyPaths = append(out.Policy.SecretDenyPaths, p.SecretDenyPaths...)
		out.Policy.SecretAllowPaths = append(out.Policy.SecretAllowPaths, p.SecretAllowPaths...)
		out.Policy.ProtectedPaths = append(out.Policy.ProtectedPaths, p.ProtectedPaths...)
		names = append(names, l.Name)
	}
	for _, f := range req.RuleFiles {
		out.Policy.ProtectedPaths = append(out.Policy.ProtectedPaths, f.Path)
	}
	out.Rules = rules
	out.Policy.RuleSwitches = switches
	if req.Mode != "" {
		m, err := guard.ParseMode(req.Mode)
		if err != nil {
			return out, names, fmt.Errorf("mode: %w", err)
		}
		out.Mode = m
	}
	return out, names, nil
}

// replaceRule appends r, dropping an earlier rule of the same name
// (case-insensitively), as upstream merges its user and project files.
func replaceRule(rules []events.GuardRule, r events.GuardRule) []events.GuardRule {
	for i, old := range rules {
		if strings.EqualFold(old.Name, r.Name) {
			rules = append(rules[:i:i], rules[i+1:]...)
			break
		}
	}
	return append(rules, r)
}

func parseShell(s string) (policy.Shell, error) {
	switch policy.Shell(s) {
	case "", policy.ShellBash:
		return policy.ShellBash, nil
	case policy.ShellPowerShell, policy.ShellAuto:
		return policy.Shell(s), nil
	}
	return "", fmt.Errorf("shell %q must be %q, %q or %q", s, policy.ShellBash, policy.ShellPowerShell, policy.ShellAuto)
}

// ruleFileLayer parses one rule file a requester sent.
func ruleFileLayer(f rpc.GuardRuleFile) (Layer, error) {
	if f.Path == "" || !filepath.IsAbs(f.Path) {
		return Layer{}, fmt.Errorf("path %q must be absolute", f.Path)
	}
	if len(f.Content) > guardclient.MaxRuleFileBytes {
		return Layer{}, fmt.Errorf("rule file %s is larger than %d KiB", f.Path, guardclient.MaxRuleFileBytes>>10)
	}
	rules, err := guard.ParseRules([]byte(f.Content))
	if err != nil {
		return Layer{}, fmt.Errorf("could not load rule file %s: %w", f.Path, err)
	}
	return Layer{Name: "rules:" + f.Path, Policy: events.GuardPolicy{Rules: rules}}, nil
}
