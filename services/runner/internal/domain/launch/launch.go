// Package launch turns a run's spec into the command line of its agent. Each
// agent has a template: an executable and arguments, each argument a
// text/template over the spec, never a shell string, so a prompt is one
// argument whatever it holds.
package launch

import (
	"fmt"
	"sort"
	"strings"
	"text/template"
)

// Data is what argument templates see.
type Data struct {
	Agent     string
	Prompt    string
	Model     string
	Workspace string
	// Dir is the directory the agent runs in (the worktree, when isolated).
	Dir     string
	RunID   string
	Attempt int
}

// Template describes how to launch one agent.
type Template struct {
	Agent string
	// Command is the executable: a name looked up on PATH, or a path.
	Command string
	// Args are the arguments, each a template.
	Args []string
	// Optional are groups of arguments added only when a field is set (e.g.
	// --model {{.Model}} when the run names a model).
	Optional []Optional
	// Env are KEY=VALUE additions to the environment (values are templates).
	Env []string
	// SelfExec launches the runner's own executable (the fake agent) unless
	// an override command is configured.
	SelfExec bool
	// Install says how to install the CLI when it is missing.
	Install string
}

// Optional is a group of arguments added when the field If is not empty.
type Optional struct {
	// If names a field of Data: Prompt, Model, Workspace, Dir or RunID.
	If   string
	Args []string
}

// field returns the value of a string field of d by name.
func field(d Data, name string) (string, bool) {
	switch name {
	case "Agent":
		return d.Agent, true
	case "Prompt":
		return d.Prompt, true
	case "Model":
		return d.Model, true
	case "Workspace":
		return d.Workspace, true
	case "Dir":
		return d.Dir, true
	case "RunID":
		return d.RunID, true
	}
	return "", false
}

// Names lists the names of a set of templates, sorted.
func Names[T any](ts map[string]T) []string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Compiled is a template with its arguments parsed.
type Compiled struct {
	Template
	args     []*template.Template
	optional []optional
	env      []*template.Template
}

type optional struct {
	when string
	args []*template.Template
}

// Compile parses every argument template; a bad one is an error naming it.
func Compile(t Template) (*Compiled, error) {
	c := &Compiled{Template: t}
	parse := func(what, s string) (*template.Template, error) {
		tt, err := template.New(what).Option("missingkey=error").Parse(s)
		if err != nil {
			return nil, fmt.Errorf("agent %s: %s %q is not a valid template: %w", t.Agent, what, s, err)
		}
		return tt, nil
	}
	for _, a := range t.Args {
		tt, err := parse("argument", a)
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, tt)
	}
	for _, g := range t.Optional {
		if _, ok := field(Data{}, g.If); !ok {
			return nil, fmt.Errorf("agent %s: optional arguments depend on %q, which must be Agent, Prompt, Model, Workspace, Dir or RunID", t.Agent, g.If)
		}
		o := optional{when: g.If}
		for _, a := range g.Args {
			tt, err := parse("optional argument", a)
			if err != nil {
				return nil, err
			}
			o.args = append(o.args, tt)
		}
		c.optional = append(c.optional, o)
	}
	for _, e := range t.Env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("agent %s: environment entry %q must be KEY=VALUE", t.Agent, e)
		}
		tt, err := parse("environment entry", e)
		if err != nil {
			return nil, err
		}
		c.env = append(c.env, tt)
	}
	return c, nil
}

// Render returns the arguments (without the executable) and the environment
// additions for d.
func (c *Compiled) Render(d Data) (args, env []string, err error) {
	for _, t := range c.args {
		s, err := render(t, d)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, s)
	}
	for _, g := range c.optional {
		if v, _ := field(d, g.when); v == "" {
			continue
		}
		for _, t := range g.args {
			s, err := render(t, d)
			if err != nil {
				return nil, nil, err
			}
			args = append(args, s)
		}
	}
	for _, t := range c.env {
		s, err := render(t, d)
		if err != nil {
			return nil, nil, err
		}
		env = append(env, s)
	}
	return args, env, nil
}

func render(t *template.Template, d Data) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, d); err != nil {
		return "", fmt.Errorf("could not render %s: %w", t.Name(), err)
	}
	return b.String(), nil
}
