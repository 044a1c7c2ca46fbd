package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
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

var customSubcommandOptsWithValue = set("-c", "-C", "--git-dir", "--work-tree", "--namespace", "--config-env")

// customRules applies the request's custom rules to a command. Like upstream,
// rules for git, rm, find, xargs and parallel only apply to top-level
// commands, not to code handed to a nested shell.
func (r *run) customRules(cc *cmdCall, base string) *finding {
	if len(r.req.Rules) == 0 || len(cc.args) == 0 {
		return nil
	}
	if cc.sc.depth > 0 && (base == "git" || base == "rm" || base == "find" || base == "xargs" || base == "parallel") {
		return nil
	}
	name := cc.args[0].val
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	sub, subIdx := customSubcommand(cc.args)
	for _, rule := range r.req.Rules {
		if name != rule.Command && !strings.EqualFold(strings.TrimSuffix(name, ".exe"), rule.Command) {
			continue
		}
		if rule.Subcommand != "" {
			if subIdx < 0 || !couldEqual(sub, rule.Subcommand) {
				continue
			}
		}
		if matchesBlockArgs(cc.args, rule.BlockArgs) {
			reason := fmt.Sprintf("[%s] %s", rule.Name, rule.Reason)
			return &finding{rule: guard.CustomRulePrefix + rule.Name, reason: reason, segment: cc.seg}
		}
	}
	return nil
}

func customSubcommand(args []field) (field, int) {
	for i := 1; i < len(args); i++ {
		a := args[i]
		v := a.val
		if a.static && v == "--" {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1].val, "-") {
				return args[i+1], i + 1
			}
			return field{}, -1
		}
		if a.static && customSubcommandOptsWithValue[v] {
			i++
			continue
		}
		if a.static && strings.HasPrefix(v, "-") {
			continue
		}
		return a, i
	}
	return field{}, -1
}

func matchesBlockArgs(args []field, block []string) bool {
	for _, a := range args[1:] {
		for _, b := range block {
			if couldEqual(a, b) {
				return true
			}
		}
		if a.static && len(a.val) > 1 && a.val[0] == '-' && a.val[1] != '-' {
			for j := 1; j < len(a.val); j++ {
				c := a.val[j]
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
