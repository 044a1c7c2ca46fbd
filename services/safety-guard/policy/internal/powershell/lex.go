package powershell

import (
	"encoding/base64"
	"strings"
	"unicode/utf16"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Token is one PowerShell word with what the engine knows about its value.
type Token struct {
	Text   string // value with quotes and escapes removed
	Static bool
	Quoted bool
	Sub    []string // $(...) subexpressions inside
	Block  string   // the body when the token is a script block { ... }
	Op     string   // ";", "|", "&&", "||", "&", "." (call) when the token is an operator
	Comma  bool     // a bare comma list such as a,b
}

// psLexer is a small PowerShell tokenizer: comments (# and nested <# #>),
// single and double quoted strings, backtick escapes, $(...) subexpressions,
// script blocks and statement separators.
type psLexer struct {
	src   []rune
	i     int
	depth int
	err   string
}

const maxPSNesting = 32

func Lex(src string) ([]Token, string) {
	l := &psLexer{src: []rune(src)}
	toks := l.tokens(0)
	return toks, l.err
}

func (l *psLexer) tokens(close rune) []Token {
	var out []Token
	for l.i < len(l.src) && l.err == "" {
		c := l.src[l.i]
		switch {
		case close != 0 && c == close:
			l.i++
			return out
		case c == ' ' || c == '\t' || c == '\r':
			l.i++
		case c == '\n' || c == ';':
			out = append(out, Token{Op: ";"})
			l.i++
		case c == '#':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.i++
			}
		case c == '<' && l.peek(1) == '#':
			l.blockComment()
		case c == '|' && l.peek(1) == '|':
			out = append(out, Token{Op: "||"})
			l.i += 2
		case c == '&' && l.peek(1) == '&':
			out = append(out, Token{Op: "&&"})
			l.i += 2
		case c == '|':
			out = append(out, Token{Op: "|"})
			l.i++
		case (c == '&' || c == '.') && (l.peek(1) == ' ' || l.peek(1) == '{' || l.peek(1) == '\'' || l.peek(1) == '"') && (len(out) == 0 || out[len(out)-1].Op != ""):
			out = append(out, Token{Op: "call"})
			l.i++
		case c == '{':
			l.i++
			start := l.i
			l.depth++
			if l.depth > maxPSNesting {
				l.err = "depth"
				return out
			}
			l.tokens('}')
			l.depth--
			end := l.i - 1
			if end < start {
				end = start
			}
			out = append(out, Token{Block: string(l.src[start:end]), Static: true})
		case c == '}' || c == ')':
			// Unbalanced closer: skip it.
			l.i++
		case c == '(':
			l.i++
			l.depth++
			if l.depth > maxPSNesting {
				l.err = "depth"
				return out
			}
			inner := l.tokens(')')
			l.depth--
			out = append(out, Token{Op: ";"})
			out = append(out, inner...)
			out = append(out, Token{Op: ";"})
		default:
			before := l.i
			out = append(out, l.word())
			if l.i == before {
				l.i++
			}
		}
	}
	return out
}

func (l *psLexer) peek(n int) rune {
	if l.i+n < len(l.src) {
		return l.src[l.i+n]
	}
	return 0
}

func (l *psLexer) blockComment() {
	depth := 0
	for l.i < len(l.src) {
		if l.src[l.i] == '<' && l.peek(1) == '#' {
			depth++
			if depth > maxPSNesting {
				l.err = "depth"
				return
			}
			l.i += 2
			continue
		}
		if l.src[l.i] == '#' && l.peek(1) == '>' {
			depth--
			l.i += 2
			if depth == 0 {
				return
			}
			continue
		}
		l.i++
	}
	l.err = "unclosed comment"
}

// word reads one argument word, which may mix bare text, quotes and variables.
func (l *psLexer) word() Token {
	t := Token{Static: true}
	var b strings.Builder
	braces := 0
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == '{':
			braces++
			b.WriteRune(c)
			l.i++
		case c == '}' && braces > 0:
			braces--
			b.WriteRune(c)
			l.i++
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';' || c == '|' || c == ')' || c == '}':
			t.Text = b.String()
			return t
		case c == '&' && l.peek(1) == '&':
			t.Text = b.String()
			return t
		case c == '#' && b.Len() == 0:
			t.Text = b.String()
			return t
		case c == '`':
			if l.i+1 < len(l.src) {
				b.WriteRune(l.src[l.i+1])
			}
			l.i += 2
		case c == '\'':
			t.Quoted = true
			l.i++
			for l.i < len(l.src) {
				if l.src[l.i] == '\'' {
					if l.peek(1) == '\'' {
						b.WriteRune('\'')
						l.i += 2
						continue
					}
					l.i++
					break
				}
				b.WriteRune(l.src[l.i])
				l.i++
			}
		case c == '"':
			t.Quoted = true
			l.i++
			for l.i < len(l.src) && l.src[l.i] != '"' {
				d := l.src[l.i]
				if d == '`' && l.i+1 < len(l.src) {
					b.WriteRune(l.src[l.i+1])
					l.i += 2
					continue
				}
				if d == '$' {
					if l.peek(1) == '(' {
						t.Sub = append(t.Sub, l.subexpr())
						t.Static = false
						b.WriteString("$(…)")
						continue
					}
					if isPSVarStart(l.peek(1)) {
						b.WriteString(l.variable())
						t.Static = false
						continue
					}
				}
				b.WriteRune(d)
				l.i++
			}
			if l.i < len(l.src) {
				l.i++
			}
		case c == '$' && l.peek(1) == '(':
			t.Sub = append(t.Sub, l.subexpr())
			t.Static = false
			b.WriteString("$(…)")
		case (c == '$' || c == '@') && isPSVarStart(l.peek(1)):
			b.WriteString(l.variable())
			t.Static = false
		case c == ',' && b.Len() > 0:
			t.Comma = true
			b.WriteRune(c)
			l.i++
		default:
			b.WriteRune(c)
			l.i++
		}
	}
	t.Text = b.String()
	return t
}

func isPSVarStart(r rune) bool {
	return r == '_' || r == '{' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
}

func (l *psLexer) variable() string {
	start := l.i
	l.i++
	if l.i < len(l.src) && l.src[l.i] == '{' {
		for l.i < len(l.src) && l.src[l.i] != '}' {
			l.i++
		}
		l.i++
		return string(l.src[start:min(l.i, len(l.src))])
	}
	for l.i < len(l.src) {
		r := l.src[l.i]
		if r == '_' || r == ':' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			l.i++
			continue
		}
		break
	}
	return string(l.src[start:l.i])
}

// subexpr reads $( ... ) and returns its body, even when unclosed.
func (l *psLexer) subexpr() string {
	l.i += 2
	start := l.i
	depth := 1
	inS, inD := false, false
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case inS:
			if c == '\'' {
				inS = false
			}
		case inD:
			if c == '"' {
				inD = false
			}
		case c == '\'':
			inS = true
		case c == '"':
			inD = true
		case c == '(':
			depth++
			if depth > maxPSNesting*2 {
				l.err = "depth"
				return ""
			}
		case c == ')':
			depth--
			if depth == 0 {
				body := string(l.src[start:l.i])
				l.i++
				return body
			}
		}
		l.i++
	}
	return string(l.src[start:])
}

// Param matches a PowerShell parameter name or unambiguous prefix.
func Param(arg, name string, minLen int) (bool, string) {
	a := strings.ToLower(arg)
	if !strings.HasPrefix(a, "-") {
		return false, ""
	}
	p, val, _ := strings.Cut(a[1:], ":")
	return len(p) >= minLen && strings.HasPrefix(name, p), val
}

// SplitList splits a bare comma list (a,b) into its items.
func SplitList(a family.Field) []family.Field {
	if !strings.Contains(a.Val, ",") || !a.Static {
		return []family.Field{a}
	}
	var out []family.Field
	for _, p := range strings.Split(a.Val, ",") {
		out = append(out, family.Field{Val: p, Static: true, Src: p})
	}
	return out
}

func Normalize(p string) string { return strings.ReplaceAll(p, `\`, "/") }

func DecodeEncodedCommand(s string) (string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b)%2 != 0 {
		return "", false
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
	}
	return string(utf16.Decode(u)), true
}
