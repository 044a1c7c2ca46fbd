package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// CustomRule blocks a command by name, optional subcommand and arguments, in
// the format of upstream's .safety-net.json:
//
//	{"version":1,"rules":[{"name":"block-git-add-all","command":"git",
//	  "subcommand":"add","block_args":["-A","--all","."],"reason":"Use specific files."}]}
type CustomRule struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"`
	Subcommand string   `json:"subcommand,omitempty"`
	BlockArgs  []string `json:"block_args"`
	Reason     string   `json:"reason"`
}

// ruleFile is the on-disk format.
type ruleFile struct {
	Schema  string            `json:"$schema,omitempty"`
	Version *int              `json:"version"`
	Rules   []json.RawMessage `json:"rules"`
}

var (
	ruleNameRe    = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_-]*$`)
	ruleCommandRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]*$`)
)

const maxReasonLength = 256

// maxRuleNameLength bounds a rule name (checked apart from the pattern: a
// counted repetition would compile to 64 copies at every start).
const maxRuleNameLength = 64

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
	rules, err := ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("could not load rule file %s: %w", path, err)
	}
	return rules, nil
}

// ParseRules parses and validates the content of a rule file. An empty file
// has no rules.
func ParseRules(data []byte) ([]CustomRule, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f ruleFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("invalid JSON (allowed top-level fields are \"version\", \"rules\" and \"$schema\"): %w", err)
	}
	var problems []string
	if f.Version == nil || *f.Version != 1 {
		problems = append(problems, "version: must be 1")
	}
	seen := map[string]bool{}
	var rules []CustomRule
	for i, raw := range f.Rules {
		prefix := fmt.Sprintf("rules[%d]", i)
		rdec := json.NewDecoder(bytes.NewReader(raw))
		rdec.DisallowUnknownFields()
		var r CustomRule
		if err := rdec.Decode(&r); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v (allowed fields are name, command, subcommand, block_args, reason)", prefix, err))
			continue
		}
		problems = append(problems, validateRule(prefix, r, seen)...)
		rules = append(rules, r)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return rules, nil
}

func validateRule(prefix string, r CustomRule, seen map[string]bool) []string {
	var p []string
	switch {
	case r.Name == "":
		p = append(p, prefix+".name: required string")
	case len(r.Name) > maxRuleNameLength || !ruleNameRe.MatchString(r.Name):
		p = append(p, prefix+".name: must start with a letter and contain only letters, digits, '-' or '_' (max 64 characters)")
	case seen[strings.ToLower(r.Name)]:
		p = append(p, fmt.Sprintf("%s.name: duplicate rule name %q", prefix, r.Name))
	default:
		seen[strings.ToLower(r.Name)] = true
	}
	if r.Command == "" {
		p = append(p, prefix+".command: required string")
	} else if !ruleCommandRe.MatchString(r.Command) {
		p = append(p, prefix+".command: must be a command name (letters, digits, '-', '_', '.'; no paths or spaces)")
	}
	if r.Subcommand != "" && !ruleCommandRe.MatchString(r.Subcommand) {
		p = append(p, prefix+".subcommand: must be a word (letters, digits, '-', '_', '.')")
	}
	if len(r.BlockArgs) == 0 {
		p = append(p, prefix+".block_args: required, at least one argument")
	}
	for i, a := range r.BlockArgs {
		if a == "" {
			p = append(p, fmt.Sprintf("%s.block_args[%d]: must not be empty", prefix, i))
		}
	}
	switch {
	case r.Reason == "":
		p = append(p, prefix+".reason: required string")
	case len(r.Reason) > maxReasonLength:
		p = append(p, fmt.Sprintf("%s.reason: must be at most %d characters", prefix, maxReasonLength))
	}
	return p
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
			return &finding{rule: CustomRulePrefix + rule.Name, reason: reason, segment: cc.seg}
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
