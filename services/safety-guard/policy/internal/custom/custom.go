// Package custom holds the custom rule family: the rules of a policy or a
// .safety-net.json file, which block a command by name, optional
// subcommand and arguments (contracts/guard reads and validates them).
package custom

import (
	"fmt"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Context is what the custom rules need of the walker.
type Context interface {
	// Rules are the custom rules in force.
	Rules() []events.GuardRule
}

var subcommandOptsWithValue = family.NameSet("-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env")

// Judge applies the custom rules to a command, before its wrappers are
// peeled. Like upstream, rules for git, rm, find, xargs and parallel only
// apply to top-level commands, not to code handed to a nested shell.
func Judge(ctx Context, c *family.Call) *family.Finding {
	rules := ctx.Rules()
	if len(rules) == 0 || len(c.Args) == 0 {
		return nil
	}
	if c.Shell.Depth() > 0 {
		switch family.CommandBase(c.Args[0].Val) {
		case "git", "rm", "find", "xargs", "parallel":
			return nil
		}
	}
	name := c.Args[0].Val
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	sub, subIdx := subcommand(c.Args)
	for _, rule := range rules {
		if name != rule.Command && !strings.EqualFold(strings.TrimSuffix(name, ".exe"), rule.Command) {
			continue
		}
		if rule.Subcommand != "" {
			if subIdx < 0 || !family.CouldEqual(sub, rule.Subcommand) {
				continue
			}
		}
		if matchesBlockArgs(c.Args, rule.BlockArgs) {
			reason := fmt.Sprintf("[%s] %s", rule.Name, rule.Reason)
			return &family.Finding{Rule: guard.CustomRulePrefix + rule.Name, Reason: reason, Segment: c.Seg}
		}
	}
	return nil
}

func subcommand(args []family.Field) (family.Field, int) {
	for i := 1; i < len(args); i++ {
		a := args[i]
		v := a.Val
		if a.Static && v == "--" {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1].Val, "-") {
				return args[i+1], i + 1
			}
			return family.Field{}, -1
		}
		if a.Static && subcommandOptsWithValue[v] {
			i++
			continue
		}
		if a.Static && strings.HasPrefix(v, "-") {
			continue
		}
		return a, i
	}
	return family.Field{}, -1
}

func matchesBlockArgs(args []family.Field, block []string) bool {
	for _, a := range args[1:] {
		for _, b := range block {
			if family.CouldEqual(a, b) {
				return true
			}
		}
		if a.Static && len(a.Val) > 1 && a.Val[0] == '-' && a.Val[1] != '-' {
			for j := 1; j < len(a.Val); j++ {
				c := a.Val[j]
				if !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
					break
				}
				for _, b := range block {
					if b == "-"+string(c) {
						return true
					}
				}
			}
		}
	}
	return false
}
