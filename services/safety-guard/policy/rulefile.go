package policy

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
)

// LoadRuleFiles reads the user rule file and the project rule file (either
// may be "" or missing) and merges them; a project rule replaces a user rule
// of the same name. Every problem is reported with the file and the field.
func LoadRuleFiles(userFile, projectFile string) ([]events.GuardRule, error) {
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
	out := make([]events.GuardRule, 0, len(user)+len(project))
	for _, r := range user {
		if !names[strings.ToLower(r.Name)] {
			out = append(out, r)
		}
	}
	return append(out, project...), nil
}

func loadRuleFile(path string) ([]events.GuardRule, error) {
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
	rules, err := guard.ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("could not load rule file %s: %w", path, err)
	}
	return rules, nil
}
