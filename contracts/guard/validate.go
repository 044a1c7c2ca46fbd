package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
)

// ValidatePolicy checks a policy before it is saved; the error names the
// field and what it may hold, every problem at once.
func ValidatePolicy(p events.GuardPolicy) error {
	var problems []string
	if p.Mode != "" {
		if _, err := ParseMode(p.Mode); err != nil {
			problems = append(problems, "mode: "+err.Error())
		}
	}
	if len(p.Rules) > 0 {
		// The rules are checked exactly as a rule file's are.
		doc, err := json.Marshal(struct {
			Version int                `json:"version"`
			Rules   []events.GuardRule `json:"rules"`
		}{1, p.Rules})
		if err == nil {
			_, err = ParseRules(doc)
		}
		if err != nil {
			problems = append(problems, err.Error())
		}
	}
	ids := make([]string, 0, len(p.RuleSwitches))
	for id := range p.RuleSwitches {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		info, ok := LookupRule(id)
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("ruleSwitches.%s: unknown rule id (phantom guard rules lists them)", id))
		case info.Catastrophic && !p.RuleSwitches[id]:
			problems = append(problems, fmt.Sprintf("ruleSwitches.%s: a catastrophic rule cannot be switched off", id))
		}
	}
	for field, paths := range map[string][]string{
		"allowPaths": p.AllowPaths, "secretDenyPaths": p.SecretDenyPaths,
		"secretAllowPaths": p.SecretAllowPaths, "protectedPaths": p.ProtectedPaths,
	} {
		for i, path := range paths {
			if strings.TrimSpace(path) == "" || strings.ContainsRune(path, 0) {
				problems = append(problems, fmt.Sprintf("%s[%d]: must be a path (absolute, ~/..., or relative to the command's working directory)", field, i))
			}
		}
	}
	for i, w := range p.Wrappers {
		if w == "" || strings.ContainsAny(w, "/ \t\n") {
			problems = append(problems, fmt.Sprintf("wrappers[%d]: %q must be a bare command name", i, w))
		}
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return errors.New(strings.Join(problems, "; "))
}
