package launch

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// Plan is an agent's launch being composed. The agent's template renders
// its first form; then independent contributors each add what they own
// (the harness options of the adapter, the safety guard's hook, resume,
// interactive input) without knowing about each other; Finalize turns the
// shared parts (Claude Code's settings document) into arguments.
type Plan struct {
	Agent   string
	Adapter string
	// Path is the executable, Args its arguments (without argv[0]).
	Path string
	Args []string
	// Env are KEY=VALUE additions to the agent's environment.
	Env []string
	// Settings is merged into one document that the adapter passes to the
	// CLI (Claude Code: --settings <json>). Contributors merge into it with
	// MergeSettings.
	Settings map[string]any
	// Interactive: the agent keeps reading stdin; Input is written to it
	// first (a turn in the CLI's input format).
	Interactive bool
	Input       []byte
	// ResumeSessionID is the provider session the agent resumes, if any.
	ResumeSessionID string
	// Timeout bounds the agent's own work (the harness timeout), 0 for none.
	Timeout time.Duration
	// OutputSchema is a JSON Schema the final result must satisfy.
	OutputSchema json.RawMessage
	// Prelude is a shell script run in the working directory before the agent.
	Prelude string
	// Dir is the attempt's private directory (0700), made by the runner
	// before the plan is composed: the place of its files and of the guard
	// socket.
	Dir string
	// Files are written into Dir (0600) before the agent starts.
	Files []File
	// Warnings are the options dropped because the CLI cannot honour them.
	Warnings []Warning
}

// Warning names an option that was dropped, and why.
type Warning struct {
	Option string
	Reason string
}

// Warn records a dropped option.
func (p *Plan) Warn(option, format string, args ...any) {
	p.Warnings = append(p.Warnings, Warning{Option: option, Reason: fmt.Sprintf(format, args...)})
}

// File is a file of the attempt's private directory.
type File struct {
	Name string
	Data []byte
}

// AddFile adds a file to write into the private directory, readable by the
// runner's user only (an MCP configuration holds credentials), and returns
// its path.
func (p *Plan) AddFile(name string, data []byte) (string, error) {
	if p.Dir == "" {
		return "", fmt.Errorf("the attempt has no private directory for %s", name)
	}
	p.Files = append(p.Files, File{Name: name, Data: data})
	return filepath.Join(p.Dir, name), nil
}

// MergeSettings merges doc into the settings document: objects merge key by
// key, lists append, anything else is replaced.
func (p *Plan) MergeSettings(doc map[string]any) {
	if p.Settings == nil {
		p.Settings = map[string]any{}
	}
	merge(p.Settings, doc)
}

func merge(dst, src map[string]any) {
	for k, v := range src {
		switch sv := v.(type) {
		case map[string]any:
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
			cp := map[string]any{}
			merge(cp, sv)
			dst[k] = cp
		case []any:
			if dv, ok := dst[k].([]any); ok {
				dst[k] = append(slices.Clone(dv), sv...)
				continue
			}
			dst[k] = slices.Clone(sv)
		default:
			dst[k] = v
		}
	}
}

// RemoveArg removes the first argument equal to s; false if there is none.
func (p *Plan) RemoveArg(s string) bool {
	i := slices.Index(p.Args, s)
	if i < 0 {
		return false
	}
	p.Args = slices.Delete(p.Args, i, i+1)
	return true
}

// Contributor adds its part to a plan: the harness options of an adapter,
// a decorator every run of some agents gets (the safety guard's hook).
type Contributor interface {
	Contribute(p *Plan) error
}

// ContributorFunc adapts a function.
type ContributorFunc func(p *Plan) error

// Contribute implements Contributor.
func (f ContributorFunc) Contribute(p *Plan) error { return f(p) }
