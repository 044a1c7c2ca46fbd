package family

import (
	"os"
	"path/filepath"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Field is one argument after the shell's expansions, as far as the engine
// can compute it.
type Field struct {
	// Val is the expanded text; parts the engine cannot resolve are rendered as
	// markers such as "$NAME", "$(…)" or "`…`" so that rules can still see the
	// shape of the word.
	Val string
	// Static is true when Val is the exact value the shell would produce.
	Static bool
	// Glob marks unquoted glob metacharacters.
	Glob bool
	// Subst marks a command or process substitution in the word.
	Subst bool
	// Param marks a parameter expansion (resolved or not).
	Param bool
	// Vars lists the parameters expanded into the field.
	Vars []string
	// Input marks values controlled by xargs or parallel input.
	Input bool
	// Spaced marks literal (source) whitespace inside the word, as in
	// 'rm -rf /'; expansions that contain whitespace do not set it.
	Spaced bool
	// Hint is a best-effort value for secret scanning when the field is not
	// static (the default of ${X:-.env}, a decoded base64 literal, ...).
	Hint string
	// Proc is the process substitution the field stands for, if any.
	Proc *syntax.ProcSubst
	// PosOnly marks a field made only of positional parameters ($1, "$@").
	PosOnly bool
	// Mark is the carrier placeholder ("{}") an input field was built from.
	Mark string
	// IFSSplit marks a field split by a custom IFS: path rules do not
	// trust such splitting and treat the field as unresolved.
	IFSSplit bool
	// Src is the source text of the word.
	Src string
}

func Lit(s string) Field { return Field{Val: s, Static: true, Src: s} }

func JoinFields(fs []Field, sep string) Field {
	if len(fs) == 0 {
		return Field{Static: true}
	}
	if len(fs) == 1 {
		return fs[0]
	}
	out := Field{Static: true}
	var vals, hints []string
	for _, f := range fs {
		vals = append(vals, f.Val)
		hints = append(hints, f.HintOrVal())
		out.Static = out.Static && f.Static
		out.Glob = out.Glob || f.Glob
		out.Subst = out.Subst || f.Subst
		out.Param = out.Param || f.Param
		out.Input = out.Input || f.Input
		out.Spaced = out.Spaced || f.Spaced
		out.Vars = append(out.Vars, f.Vars...)
		out.Src = f.Src
	}
	out.Val = strings.Join(vals, sep)
	if !out.Static {
		out.Hint = strings.Join(hints, sep)
	}
	return out
}

func (f Field) HintOrVal() string {
	if f.Hint != "" {
		return f.Hint
	}
	return f.Val
}

// SplitAssignment recognises a NAME=value (or NAME+=value) argument.
func SplitAssignment(a Field) (string, Field, bool) {
	i := strings.IndexByte(a.Val, '=')
	if i <= 0 {
		return "", Field{}, false
	}
	name := strings.TrimSuffix(a.Val[:i], "+")
	if !IsName(name) {
		return "", Field{}, false
	}
	v := a
	v.Val = a.Val[i+1:]
	return name, v, true
}

func JoinVals(fs []Field) string {
	vs := make([]string, len(fs))
	for i, f := range fs {
		vs[i] = f.Val
	}
	return strings.Join(vs, " ")
}

func Vals(fs []Field) []string {
	vs := make([]string, len(fs))
	for i, f := range fs {
		vs[i] = f.Val
	}
	return vs
}

// InputField stands for text the carrier reads from its input. appended
// marks input added after the template (rather than replacing a placeholder),
// which options of the child can no longer absorb in some commands.
func InputField(template string, mark string, appended bool) Field {
	f := Field{Val: template, Input: true, Src: template}
	if appended {
		f.Val = AppendedInput
	}
	f.Mark = mark
	return f
}

// AppendedInput is the value of input appended to a carrier's command line.
const AppendedInput = "<input>"

func IsAppendedInput(f Field) bool { return f.Input && f.Val == AppendedInput }

// CouldEqual reports whether field f may take the value s: exactly for static
// fields, by the static text around the input placeholder otherwise.
func CouldEqual(f Field, s string) bool {
	if f.Static {
		return f.Val == s
	}
	if !f.Input {
		return false
	}
	mark := f.Mark
	if f.Val == AppendedInput || mark == "" || f.Val == mark {
		return true
	}
	parts := strings.Split(f.Val, mark)
	return strings.HasPrefix(s, parts[0]) && strings.HasSuffix(s, parts[len(parts)-1])
}

// CouldBeOption reports whether a field may start with "-".
func CouldBeOption(f Field) bool {
	if f.Static {
		return strings.HasPrefix(f.Val, "-")
	}
	return CouldEqual(f, "-x") || strings.HasPrefix(f.Val, "-") || strings.HasPrefix(f.Val, "$") || strings.HasPrefix(f.Val, "`")
}

// SplitEnvString splits an env -S argument into words the way env does:
// blanks separate, quotes group, backslash escapes.
func SplitEnvString(s string) ([]Field, bool) {
	var out []Field
	var b strings.Builder
	in := false
	q := byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
				continue
			}
			if c == '\\' && q == '"' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
				continue
			}
			b.WriteByte(c)
		case c == '\'' || c == '"':
			q = c
			in = true
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
			in = true
		case c == ' ' || c == '\t' || c == '\n':
			if in {
				out = append(out, Lit(b.String()))
				b.Reset()
				in = false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if q != 0 {
		return nil, false
	}
	if in {
		out = append(out, Lit(b.String()))
	}
	return out, true
}

// ResolveDir resolves a directory operand (cd, env -C, git -C) against base,
// following symlinks the way the kernel does. It returns "" when the result
// is unknown or not an existing directory.
func ResolveDir(base string, target Field) string {
	if !target.Static || target.Val == "" {
		return ""
	}
	p := target.Val
	if !filepath.IsAbs(p) {
		if base == "" {
			return ""
		}
		real, err := filepath.EvalSymlinks(base)
		if err != nil {
			return ""
		}
		// No Join: cleaning would apply ".." before symlinks are resolved.
		p = real + string(filepath.Separator) + p
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	if !IsDir(real) {
		return ""
	}
	return real
}

func IsDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
