package policy

import (
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// staticOutput computes what a pure producer writes to stdout: echo, printf,
// cat of its stdin, base64 -d of its stdin.
func staticOutput(args []family.Field, in *family.Stdin) (string, bool) {
	for _, a := range args {
		if !a.Static {
			return "", false
		}
	}
	if len(args) == 0 {
		return "", false
	}
	v := family.Vals(args)
	switch family.CommandBase(v[0]) {
	case "echo":
		rest := v[1:]
		newline, escapes := true, false
		for len(rest) > 0 && len(rest[0]) > 1 && rest[0][0] == '-' && strings.Trim(rest[0][1:], "neE") == "" {
			if strings.Contains(rest[0], "n") {
				newline = false
			}
			if strings.Contains(rest[0], "e") {
				escapes = true
			}
			rest = rest[1:]
		}
		s := strings.Join(rest, " ")
		if escapes {
			s = decodePrintfEscapes(s)
		}
		if newline {
			s += "\n"
		}
		return s, true
	case "printf":
		rest := v[1:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			return "", false
		}
		return printfOutput(rest[0], rest[1:]), true
	case "cat":
		if len(v) == 1 && in != nil && in.Known {
			return in.Text, true
		}
	case "base64":
		decode := false
		for _, a := range v[1:] {
			if a == "--decode" || (strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.ContainsAny(a, "dD")) {
				decode = true
			}
		}
		if decode && in != nil && in.Known {
			if b, ok := family.DecodeBase64(strings.TrimSpace(in.Text)); ok {
				return b, true
			}
		}
	}
	return "", false
}

func decodePrintfEscapes(s string) string {
	return strings.NewReplacer(`\n`, "\n", `\t`, "\t", `\r`, "\r", `\\`, `\`).Replace(s)
}

// printfOutput applies a printf format to arguments for %s, %b and %q, which
// is all the engine needs to follow text through pipes.
func printfOutput(format string, args []string) string {
	count := strings.Count(format, "%s") + strings.Count(format, "%b") + strings.Count(format, "%q") + strings.Count(format, "%d")
	if count == 0 || len(args) == 0 {
		return decodePrintfEscapes(strings.ReplaceAll(format, "%%", "%"))
	}
	var b strings.Builder
	for start := 0; start < len(args); start += count {
		end := start + count
		if end > len(args) {
			end = len(args)
		}
		chunk := args[start:end]
		k := 0
		out := ""
		for i := 0; i < len(format); i++ {
			if format[i] == '%' && i+1 < len(format) {
				switch format[i+1] {
				case 's', 'b', 'q', 'd':
					if k < len(chunk) {
						out += chunk[k]
					}
					k++
					i++
					continue
				case '%':
					out += "%"
					i++
					continue
				}
			}
			out += string(format[i])
		}
		b.WriteString(decodePrintfEscapes(out))
	}
	return b.String()
}

// staticSubstOutput best-effort evaluates a command substitution such as
// $(echo ... | base64 -d), for secret scanning only.
func staticSubstOutput(stmts []*syntax.Stmt, sc *scope) *string {
	if len(stmts) != 1 {
		return nil
	}
	var members []*syntax.Stmt
	var flatten func(s *syntax.Stmt)
	flatten = func(s *syntax.Stmt) {
		if b, ok := s.Cmd.(*syntax.BinaryCmd); ok && (b.Op == syntax.Pipe || b.Op == syntax.PipeAll) {
			flatten(b.X)
			flatten(b.Y)
			return
		}
		members = append(members, s)
	}
	flatten(stmts[0])
	var in *family.Stdin
	for _, m := range members {
		call, ok := m.Cmd.(*syntax.CallExpr)
		if !ok {
			return nil
		}
		var args []family.Field
		for _, w := range call.Args {
			lit, ok := wordLiteral(w)
			if !ok {
				return nil
			}
			args = append(args, family.Field{Val: lit, Static: true})
		}
		for _, rd := range m.Redirs {
			if rd.Op == syntax.WordHdoc {
				if lit, ok := wordLiteral(rd.Word); ok {
					in = &family.Stdin{Kind: family.StdinHereString, Text: lit + "\n", Known: true}
				}
			}
		}
		out, ok := staticOutput(args, in)
		if !ok {
			return nil
		}
		in = &family.Stdin{Kind: family.StdinPipe, Text: out, Known: true}
	}
	if in == nil {
		return nil
	}
	s := strings.TrimRight(in.Text, "\n")
	return &s
}

// wordLiteral returns the value of a word made only of literal text and quotes.
func wordLiteral(w *syntax.Word) (string, bool) {
	var b strings.Builder
	for _, p := range w.Parts {
		switch x := p.(type) {
		case *syntax.Lit:
			t, _ := unescapeUnquoted(x.Value)
			b.WriteString(t)
		case *syntax.SglQuoted:
			if x.Dollar {
				s, ok := decodeANSIC(x.Value)
				if !ok {
					return "", false
				}
				b.WriteString(s)
			} else {
				b.WriteString(x.Value)
			}
		case *syntax.DblQuoted:
			for _, q := range x.Parts {
				l, ok := q.(*syntax.Lit)
				if !ok {
					return "", false
				}
				b.WriteString(unescapeDouble(l.Value, false))
			}
		default:
			return "", false
		}
	}
	return b.String(), true
}
