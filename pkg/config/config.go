// Package config loads a service's settings from PHANTOM_* environment
// variables (through envconfig) and prints every variable, with its default
// and meaning, for --help.
//
// A settings struct documents each variable with the tags
// `envconfig:"NAME" default:"..." desc:"..."`.
package config

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// Prefix of every Phantom environment variable.
const Prefix = "PHANTOM"

// Load fills spec (a pointer to a settings struct) from the environment.
// A malformed value is an error naming the variable.
func Load(spec any) error {
	if err := envconfig.Process(Prefix, spec); err != nil {
		return fmt.Errorf("could not read the configuration: %w", err)
	}
	return nil
}

// WantsHelp reports whether args ask for help.
func WantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "--help", "-help", "help":
			return true
		}
	}
	return false
}

// Var is one documented variable.
type Var struct {
	Name, Type, Default, Description string
}

// Vars lists the variables of settings structs, in order, without duplicates.
func Vars(specs ...any) ([]Var, error) {
	seen := map[string]bool{}
	var out []Var
	// envconfig exposes its field list only through its usage template, so
	// render one record per variable with separators that cannot occur in tags.
	const tmpl = "{{range .}}{{usage_key .}}\x1f{{usage_type .}}\x1f{{usage_default .}}\x1f{{usage_description .}}\x1e{{end}}"
	for _, s := range specs {
		var b strings.Builder
		if err := envconfig.Usagef(Prefix, s, &b, tmpl); err != nil {
			return nil, fmt.Errorf("could not list the configuration: %w", err)
		}
		for _, rec := range strings.Split(b.String(), "\x1e") {
			f := strings.Split(rec, "\x1f")
			if len(f) != 4 || seen[f[0]] {
				continue
			}
			seen[f[0]] = true
			out = append(out, Var{Name: f[0], Type: f[1], Default: f[2], Description: f[3]})
		}
	}
	return out, nil
}

// Usage prints a table of every variable of specs.
func Usage(w io.Writer, specs ...any) error {
	vars, err := Vars(specs...)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tDESCRIPTION")
	for _, v := range vars {
		def := v.Default
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", v.Name, def, strings.TrimSpace(v.Description))
	}
	return tw.Flush()
}

// Markdown renders the variables of specs as a Markdown table (for the README).
func Markdown(w io.Writer, specs ...any) error {
	vars, err := Vars(specs...)
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "| variable | default | description |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, v := range vars {
		def := "`" + v.Default + "`"
		if v.Default == "" {
			def = ""
		}
		fmt.Fprintf(w, "| `%s` | %s | %s |\n", v.Name, def, strings.ReplaceAll(v.Description, "|", "\\|"))
	}
	return nil
}
