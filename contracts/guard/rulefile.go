package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
)

// A rule file holds custom rules in the format of upstream's .safety-net.json:
//
//	{"version":1,"rules":[{"name":"block-git-add-all","command":"git",
//	  "subcommand":"add","block_args":["-A","--all","."],"reason":"Use specific files."}]}
//
// Each rule is an events.GuardRule, the form policies carry.
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

// ParseRules parses and validates the content of a rule file. An empty file
// has no rules. Every problem is reported, naming the field.
func ParseRules(data []byte) ([]events.GuardRule, error) {
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
	var rules []events.GuardRule
	for i, raw := range f.Rules {
		prefix := fmt.Sprintf("rules[%d]", i)
		rdec := json.NewDecoder(bytes.NewReader(raw))
		rdec.DisallowUnknownFields()
		var r events.GuardRule
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

func validateRule(prefix string, r events.GuardRule, seen map[string]bool) []string {
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
