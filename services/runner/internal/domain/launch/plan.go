package launch

import (
	"encoding/json"
	"fmt"
	"os"
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
	// Dir is a private directory (0700) for the attempt's files (MCP
	// config, the guard socket); created on first use, removed with Cleanup.
	Dir string
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

// PrivateDir returns the attempt's private directory, creating it.
func (p *Plan) PrivateDir() (string, error) {
	if p.Dir != "" {
		return p.Dir, nil
	}
	d, err := os.MkdirTemp("", "phantom-run-")
	if err != nil {
		return "", fmt.Errorf("could not create the attempt's private directory: %w", err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		return "", fmt.Errorf("could not protect %s: %w", d, err)
	}
	p.Dir = d
	return d, nil
}

// WriteFile writes a file readable by this user only in the private directory.
func (p *Plan) WriteFile(name string, data []byte) (string, error) {
	d, err := p.PrivateDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(d, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("could not write %s: %w", path, err)
	}
	return path, nil
}

// Cleanup removes the private directory.
func (p *Plan) Cleanup() {
	if p.Dir != "" {
		_ = os.RemoveAll(p.Dir)
	}
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
