// Package agents is the runner's catalogue of agent CLIs: how to launch each
// (a launch template), which adapter parses its output and maps the harness
// options onto its flags, its models, how to read its version and which
// versions Phantom drives fully (supported), with reduced features
// (degraded) or not at all (blocked).
//
// Built-in definitions cover claude, codex, gemini and the fake agent; an
// agents.toml file (PHANTOM_AGENTS_FILE) changes them or adds any other CLI:
//
//	[agents.claude]
//	default_model = "opus"
//
//	[agents.aider]
//	command = "aider"
//	adapter = "raw"
//	args = ["--message", "{{.Prompt}}", "--yes"]
//	install = "pipx install aider-chat"
//	[agents.aider.versions]
//	supported = ">= 0.80"
//
// A table for a built-in agent changes only the keys it sets.
package agents

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/Masterminds/semver/v3"

	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// Adapters: how an agent's output is parsed and its options mapped.
const (
	AdapterClaude = "claude"
	AdapterCodex  = "codex"
	AdapterGemini = "gemini"
	// AdapterFake is the fake agent: Claude's output, directives for options.
	AdapterFake = "fake"
	// AdapterRaw keeps the output as chunks only and honours no harness option.
	AdapterRaw = "raw"
)

// Adapters lists the adapter names.
var Adapters = []string{AdapterClaude, AdapterCodex, AdapterGemini, AdapterFake, AdapterRaw}

// Support levels.
const (
	Supported = "supported"
	Degraded  = "degraded"
	Blocked   = "blocked"
	Missing   = "missing"
)

// Optional is a group of arguments added when a field is set.
type Optional struct {
	If   string   `toml:"if"`
	Args []string `toml:"args"`
}

// Versions map version constraints (Masterminds semver syntax, e.g.
// ">= 2.0, < 3") to support levels. Blocked is checked first, then
// Supported, then Degraded; a version none matches is degraded.
type Versions struct {
	Supported string `toml:"supported"`
	Degraded  string `toml:"degraded"`
	Blocked   string `toml:"blocked"`
}

// Definition is one agent.
type Definition struct {
	Name string `toml:"-"`
	// Command is the executable, on PATH or a path; empty for the fake agent (self-exec).
	Command  string            `toml:"command"`
	Adapter  string            `toml:"adapter"`
	Provider string            `toml:"provider"`
	Args     []string          `toml:"args"`
	Optional []Optional        `toml:"optional"`
	Env      map[string]string `toml:"env"`
	// DefaultModel is used when a run names no model; PlanModel for planning runs.
	DefaultModel string   `toml:"default_model"`
	PlanModel    string   `toml:"plan_model"`
	Models       []string `toml:"models"`
	// ModelsCommand, when set, are arguments that make the CLI print its
	// model catalogue as JSON (Codex: debug models).
	ModelsCommand []string `toml:"models_command"`
	// VersionArgs print the version (default --version); VersionPattern
	// picks it out of the output (default: the first x.y.z).
	VersionArgs    []string `toml:"version_args"`
	VersionPattern string   `toml:"version_pattern"`
	Versions       Versions `toml:"versions"`
	Install        string   `toml:"install"`
	// SelfExec launches the runner's own executable (the fake agent).
	SelfExec bool `toml:"-"`

	versionRE *regexp.Regexp
	ranges    [3]*semver.Constraints // blocked, supported, degraded
	template  *launch.Compiled
}

// Template is the compiled launch template.
func (d *Definition) Template() *launch.Compiled { return d.template }

// Builtin returns the built-in definitions.
func Builtin() map[string]*Definition {
	return map[string]*Definition{
		"claude": {
			Command: "claude", Adapter: AdapterClaude, Provider: "claude",
			Args:         []string{"-p", "{{.Prompt}}", "--output-format", "stream-json", "--verbose"},
			Optional:     []Optional{{If: "Model", Args: []string{"--model", "{{.Model}}"}}},
			DefaultModel: "", PlanModel: "opus",
			Models:   []string{"sonnet", "opus", "haiku"},
			Versions: Versions{Supported: ">= 2.0.0, < 3.0.0", Degraded: ">= 1.0.0, < 2.0.0", Blocked: "< 1.0.0"},
			Install:  "npm install -g @anthropic-ai/claude-code",
		},
		"codex": {
			Command: "codex", Adapter: AdapterCodex, Provider: "codex",
			Args:          []string{"exec", "--json", "--skip-git-repo-check", "{{.Prompt}}"},
			Optional:      []Optional{{If: "Model", Args: []string{"-m", "{{.Model}}"}}},
			ModelsCommand: []string{"debug", "models"},
			Versions:      Versions{Supported: ">= 0.100.0, < 1.0.0", Degraded: ">= 0.40.0, < 0.100.0", Blocked: "< 0.40.0"},
			Install:       "npm install -g @openai/codex",
		},
		"gemini": {
			Command: "gemini", Adapter: AdapterGemini, Provider: "gemini",
			Args:     []string{"-p", "{{.Prompt}}", "-o", "stream-json", "--skip-trust"},
			Optional: []Optional{{If: "Model", Args: []string{"-m", "{{.Model}}"}}},
			Models:   []string{"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"},
			Versions: Versions{Supported: ">= 0.50.0, < 1.0.0", Degraded: ">= 0.10.0, < 0.50.0", Blocked: "< 0.10.0"},
			Install:  "npm install -g @google/gemini-cli",
		},
		"fake": {
			Adapter: AdapterFake, Provider: "fake", SelfExec: true,
			Args:     []string{"{{.Prompt}}"},
			Optional: []Optional{{If: "Model", Args: []string{"model={{.Model}}"}}},
			Env:      map[string]string{"PHANTOM_FAKE_AGENT": "1"},
			Models:   []string{"claude-fake-1"},
			Install:  "the fake agent is built into every Phantom binary; set PHANTOM_FAKE_AGENT_COMMAND to use another one",
		},
	}
}

// file is the shape of agents.toml.
type file struct {
	Agents map[string]toml.Primitive `toml:"agents"`
}

// Load returns the built-in definitions changed by the agents.toml document
// data (nil: the built-ins alone), compiled. name is the file's name in errors.
func Load(name string, data []byte) (map[string]*Definition, error) {
	defs := Builtin()
	if len(data) > 0 {
		var f file
		md, err := toml.Decode(string(data), &f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		for agent, prim := range f.Agents {
			d, ok := defs[agent]
			if !ok {
				d = &Definition{Adapter: AdapterRaw}
			} else {
				// A file that names the command of the fake agent runs that command.
				d.SelfExec = false
				if d.Adapter == AdapterFake {
					d.SelfExec = true
				}
			}
			cmdBefore := d.Command
			if err := md.PrimitiveDecode(prim, d); err != nil {
				return nil, fmt.Errorf("%s: agents.%s: %w", name, agent, err)
			}
			if d.Adapter == AdapterFake && d.Command != cmdBefore && d.Command != "" {
				d.SelfExec = false
			}
			defs[agent] = d
		}
		for _, k := range md.Undecoded() {
			if len(k) >= 3 && k[0] == "agents" {
				if _, isAgent := f.Agents[k[1]]; isAgent {
					return nil, fmt.Errorf("%s: unknown key %s (known: command, adapter, provider, args, optional, env, default_model, plan_model, models, models_command, version_args, version_pattern, versions, install)", name, k.String())
				}
			}
		}
	}
	for agent, d := range defs {
		d.Name = agent
		if err := d.compile(name); err != nil {
			return nil, err
		}
	}
	return defs, nil
}

var defaultVersionRE = regexp.MustCompile(`(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z.-]+)?)`)

func (d *Definition) compile(file string) error {
	at := func(field string) string { return fmt.Sprintf("%s: agents.%s.%s", file, d.Name, field) }
	if err := subjects.CheckToken(at("name"), d.Name); err != nil {
		return err
	}
	if !slices.Contains(Adapters, d.Adapter) {
		return fmt.Errorf("%s: %q must be one of %s", at("adapter"), d.Adapter, strings.Join(Adapters, ", "))
	}
	if d.Command == "" && !d.SelfExec {
		return fmt.Errorf("%s: must name the executable", at("command"))
	}
	if len(d.Args) == 0 {
		return fmt.Errorf("%s: must list the arguments (one of them {{.Prompt}})", at("args"))
	}
	if d.Provider == "" {
		d.Provider = d.Name
	}
	if err := subjects.CheckToken(at("provider"), d.Provider); err != nil {
		return err
	}
	if len(d.VersionArgs) == 0 {
		d.VersionArgs = []string{"--version"}
	}
	d.versionRE = defaultVersionRE
	if d.VersionPattern != "" {
		re, err := regexp.Compile(d.VersionPattern)
		if err != nil {
			return fmt.Errorf("%s: %w", at("version_pattern"), err)
		}
		if re.NumSubexp() < 1 {
			return fmt.Errorf("%s: must have a group capturing the version", at("version_pattern"))
		}
		d.versionRE = re
	}
	for i, c := range []struct{ field, expr string }{
		{"versions.blocked", d.Versions.Blocked}, {"versions.supported", d.Versions.Supported}, {"versions.degraded", d.Versions.Degraded},
	} {
		d.ranges[i] = nil
		if strings.TrimSpace(c.expr) == "" {
			continue
		}
		con, err := semver.NewConstraint(c.expr)
		if err != nil {
			return fmt.Errorf("%s: %q is not a version range (e.g. \">= 2.0, < 3\"): %w", at(c.field), c.expr, err)
		}
		d.ranges[i] = con
	}
	var env []string
	for _, k := range sortedKeys(d.Env) {
		if strings.ContainsAny(k, "= ") || k == "" {
			return fmt.Errorf("%s: %q is not a variable name", at("env"), k)
		}
		env = append(env, k+"="+d.Env[k])
	}
	t := launch.Template{Agent: d.Name, Command: d.Command, Args: d.Args, Env: env, SelfExec: d.SelfExec, Install: d.Install}
	for _, o := range d.Optional {
		t.Optional = append(t.Optional, launch.Optional{If: o.If, Args: o.Args})
	}
	c, err := launch.Compile(t)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	d.template = c
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ParseVersion picks the version out of the CLI's --version output.
func (d *Definition) ParseVersion(out string) (string, error) {
	m := d.versionRE.FindStringSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("no version in %q", abbreviate(out))
	}
	return m[1], nil
}

// Support judges a version: supported, degraded or blocked, with a reason.
func (d *Definition) Support(version string) (string, string) {
	if d.SelfExec {
		return Supported, ""
	}
	v, err := semver.NewVersion(version)
	if err != nil {
		return Degraded, fmt.Sprintf("version %q could not be read (%v); Phantom drives it without guarantees", version, err)
	}
	levels := []string{Blocked, Supported, Degraded}
	exprs := []string{d.Versions.Blocked, d.Versions.Supported, d.Versions.Degraded}
	for i, r := range d.ranges {
		if r != nil && r.Check(v) {
			switch levels[i] {
			case Blocked:
				return Blocked, fmt.Sprintf("%s %s is blocked (%s); install a supported version (%s): %s", d.Name, version, exprs[i], d.Versions.Supported, d.Install)
			case Degraded:
				return Degraded, fmt.Sprintf("%s %s is older than the supported range (%s): some options may be dropped", d.Name, version, d.Versions.Supported)
			}
			return Supported, ""
		}
	}
	if d.ranges == [3]*semver.Constraints{} {
		return Supported, ""
	}
	return Degraded, fmt.Sprintf("%s %s is outside the tested range (%s)", d.Name, version, d.Versions.Supported)
}

// Names lists the agent names, sorted.
func Names(defs map[string]*Definition) []string {
	names := make([]string, 0, len(defs))
	for n := range defs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func abbreviate(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 120 {
		return s[:120] + "…"
	}
	return s
}
