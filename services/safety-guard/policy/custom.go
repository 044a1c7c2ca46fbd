package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// CustomRule blocks a command by name, optional subcommand and arguments: a
// rule of upstream's .safety-net.json format (guard.ParseRules reads it).
type CustomRule struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"`
	Subcommand string   `json:"subcommand,omitempty"`
	BlockArgs  []string `json:"block_args"`
	Reason     string   `json:"reason"`
}

// LoadRuleFiles reads the user rule file and the project rule file (either
// may be "" or missing) and merges them; a project rule replaces a user rule
// of the same name. Every problem is reported with the file and the field.
func LoadRuleFiles(userFile, projectFile string) ([]CustomRule, error) {
	user, err := loadRuleFile(userFile)
	if err != nil {
		return nil, err
	}
	project, err := loadRuleFile(projectFile)
	if err != nil {
		return nil, err
	}
	names := make(map[string]bool, len(project))
	for _, r := range project {
		names[strings.ToLower(r.Name)] = true
	}
	out := make([]CustomRule, 0, len(user)+len(project))
	for _, r := range user {
		if !names[strings.ToLower(r.Name)] {
			out = append(out, r)
		}
	}
	return append(out, project...), nil
}

func loadRuleFile(path string) ([]CustomRule, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("could not read rule file %s: %w", path, err)
	}
	parsed, err := guard.ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("could not load rule file %s: %w", path, err)
	}
	rules := make([]CustomRule, len(parsed))
	for i, r := range parsed {
		rules[i] = CustomRule(r)
	}
	return rules, nil
}

var customSubcommandOptsWithValue = family.NameSet("-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env")

// customRules applies the request's custom rules to a command. Like upstream,
// rules for git, rm, find, xargs and parallel only apply to top-level
// commands, not to code handed to a nested shell.
func (r *run) customRules(cc *cmdCall, base string) *family.Finding {
	if len(r.req.Rules) == 0 || len(cc.Args) == 0 {
		return nil
	}
	if cc.sc.depth > 0 && (base == "git" || base == "rm" || base == "find" || base == "xargs" || base == "parallel") {
		return nil
	}
	name := cc.Args[0].Val
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	sub, subIdx := customSubcommand(cc.Args)
	for _, rule := range r.req.Rules {
		if name != rule.Command && !strings.EqualFold(strings.TrimSuffix(name, ".exe"), rule.Command) {
			continue
		}
		if rule.Subcommand != "" {
			if subIdx < 0 || !family.CouldEqual(sub, rule.Subcommand) {
				continue
			}
		}
		if matchesBlockArgs(cc.Args, rule.BlockArgs) {
			reason := fmt.Sprintf("[%s] %s", rule.Name, rule.Reason)
			return &family.Finding{Rule: guard.CustomRulePrefix + rule.Name, Reason: reason, Segment: cc.Seg}
		}
	}
	return nil
}

func customSubcommand(args []family.Field) (family.Field, int) {
	for i := 1; i < len(args); i++ {
		a := args[i]
		v := a.Val
		if a.Static && v == "--" {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1].Val, "-") {
				return args[i+1], i + 1
			}
			return family.Field{}, -1
		}
		if a.Static && customSubcommandOptsWithValue[v] {
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
