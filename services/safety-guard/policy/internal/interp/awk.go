package interp

import (
	"strconv"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

const reasonAwkDynamic = "Detected awk system(), pipe, or getline command with a dynamic command string that cannot be analysed safely."

// judgeAwk judges the commands an awk program runs through system(),
// pipes and getline.
func judgeAwk(ctx Context, c *family.Call, base string) *family.Finding {
	args := c.Args
	var progs, files []family.Field
	i := 1
	for i < len(args) {
		a := args[i]
		v := a.Val
		if a.Input && family.CouldBeOption(a) {
			// Input in option position can add -f or -e with a program.
			return family.CarrierDynamic(ctx, c, "the input adds options to "+base)
		}
		if !a.Static && strings.HasPrefix(v, "-") && ctx.Mode().Has(guard.ModeStrict) {
			return ctx.Block(guard.RuleDynamicScript, base+" takes an option the engine cannot see ("+family.Clip(a.Src)+"); shell execution source cannot be verified.", c.Seg)
		}
		if !a.Static && strings.HasPrefix(v, "-") {
			i++
			continue
		}
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") || v == "-" {
			break
		}
		switch {
		case v == "-f" || v == "--file" || v == "-E" || v == "--exec":
			if i+1 < len(args) {
				files = append(files, args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "--file=") || strings.HasPrefix(v, "--exec="):
			f := a
			_, f.Val, _ = strings.Cut(v, "=")
			files = append(files, f)
		case strings.HasPrefix(v, "-f") && len(v) > 2:
			f := a
			f.Val = v[2:]
			files = append(files, f)
		case v == "-e" || v == "--source":
			if i+1 < len(args) {
				progs = append(progs, args[i+1])
			}
			i += 2
			continue
		case strings.HasPrefix(v, "--source="):
			f := a
			f.Val = v[len("--source="):]
			progs = append(progs, f)
		case v == "-F" || v == "-v" || v == "-i" || v == "-l" || v == "-W" || v == "--assign" || v == "--field-separator" || v == "--include" || v == "--load":
			i += 2
			continue
		}
		i++
	}
	if len(progs) == 0 && len(files) == 0 {
		if i >= len(args) {
			if c.Carrier != "" {
				return family.CarrierDynamic(ctx, c, base+" reads its program from the input")
			}
			return nil
		}
		progs = append(progs, args[i])
	}
	for _, f := range files {
		if !f.Static && f.Input {
			return family.CarrierDynamic(ctx, c, base+" runs a program file named by the input")
		}
		if ctx.Mode().Has(guard.ModeStrict) && (!f.Static || f.Val == "-") {
			return ctx.Block(guard.RuleDynamicScript, base+" runs a program file the engine cannot see ("+family.Clip(f.Src)+"); shell execution source cannot be verified.", c.Seg)
		}
		if f.Static && f.Val == "-" && c.Carrier != "" {
			return family.CarrierDynamic(ctx, c, base+" reads its program from the input")
		}
	}
	for _, p := range progs {
		if !p.Static {
			if p.Input {
				if strings.Contains(p.Val, "system") || strings.Contains(p.Val, "getline") || strings.Contains(p.Val, "|") {
					if f := ctx.Block(guard.RuleAwkSystemDynamic, reasonAwkDynamic, c.Seg); f != nil {
						return f
					}
				}
				return family.CarrierDynamic(ctx, c, base+" runs a program from the input")
			}
			return ctx.Block(guard.RuleDynamicScript, base+" runs a program the engine cannot see ("+family.Clip(p.Src)+"); shell execution source cannot be verified.", c.Seg)
		}
		if f := awkProgram(ctx, c, p.Val); f != nil {
			return f
		}
	}
	return nil
}

// awkCommand is a shell command an awk program runs.
type awkCommand struct {
	text   string
	static bool
}

// awkProgram judges the shell commands an awk program runs and the files
// it reads.
func awkProgram(ctx Context, c *family.Call, prog string) *family.Finding {
	for _, cmd := range awkCommands(prog) {
		if !cmd.static {
			if f := ctx.Block(guard.RuleAwkSystemDynamic, reasonAwkDynamic, c.Seg); f != nil {
				return f
			}
			continue
		}
		if f := ctx.JudgeInherited(*c, cmd.text); f != nil {
			return f
		}
	}
	return secrets.InAwk(ctx, c, prog)
}

// awkCommands finds system(...), "cmd" | getline and print | "cmd".
func awkCommands(prog string) []awkCommand {
	var out []awkCommand
	toks := awkTokens(prog)
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.kind == 'w' && t.text == "system" && i+1 < len(toks) && toks[i+1].text == "(":
			j := i + 2
			depth := 1
			var parts []awkTok
			for j < len(toks) && depth > 0 {
				if toks[j].text == "(" {
					depth++
				}
				if toks[j].text == ")" {
					depth--
					if depth == 0 {
						break
					}
				}
				parts = append(parts, toks[j])
				j++
			}
			out = append(out, concatAwk(parts))
			i = j
		case t.text == "|" && i+1 < len(toks) && toks[i+1].kind == 'w' && toks[i+1].text == "getline":
			// The command is the expression before the pipe.
			if i > 0 && toks[i-1].kind == 's' {
				out = append(out, awkCommand{text: toks[i-1].text, static: true})
			} else {
				out = append(out, awkCommand{})
			}
		case t.text == "|" && i+1 < len(toks) && (i == 0 || toks[i-1].text != "|") && (i+1 >= len(toks) || toks[i+1].text != "|"):
			if awkPrintBefore(toks, i) {
				if toks[i+1].kind == 's' {
					out = append(out, awkCommand{text: toks[i+1].text, static: true})
				} else {
					out = append(out, awkCommand{})
				}
			}
		}
	}
	return out
}

// awkPrintBefore reports whether the pipe at i belongs to a print statement.
func awkPrintBefore(toks []awkTok, i int) bool {
	for j := i - 1; j >= 0; j-- {
		switch toks[j].text {
		case ";", "{", "}", "\n":
			return false
		case "print", "printf":
			return toks[j].kind == 'w'
		}
	}
	return false
}

func concatAwk(parts []awkTok) awkCommand {
	if len(parts) == 0 {
		return awkCommand{}
	}
	var b strings.Builder
	for _, p := range parts {
		if p.kind != 's' {
			return awkCommand{}
		}
		b.WriteString(p.text)
	}
	return awkCommand{text: b.String(), static: true}
}

type awkTok struct {
	kind byte // 'w' word, 's' string, 'p' punctuation
	text string
}

// awkTokens is a small lexer for awk programs: strings (escapes decoded),
// words, and punctuation; regex literals are skipped as punctuation-free words.
func awkTokens(s string) []awkTok {
	var out []awkTok
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"':
			var b strings.Builder
			j := i + 1
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch e := s[j]; e {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					case 'x':
						k := j + 1
						for k < len(s) && k < j+3 && family.IsHex(s[k]) {
							k++
						}
						if v, err := strconv.ParseUint(s[j+1:k], 16, 8); err == nil && k > j+1 {
							b.WriteByte(byte(v))
							j = k - 1
						} else {
							b.WriteByte('x')
						}
					case '0', '1', '2', '3', '4', '5', '6', '7':
						k := j
						for k < len(s) && k < j+3 && s[k] >= '0' && s[k] <= '7' {
							k++
						}
						v, _ := strconv.ParseUint(s[j:k], 8, 8)
						b.WriteByte(byte(v))
						j = k - 1
					default:
						b.WriteByte(e)
					}
					j++
					continue
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, awkTok{kind: 's', text: b.String()})
			i = j + 1
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '$' || s[j] == '.' || (s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') || (s[j] >= '0' && s[j] <= '9')) {
				j++
			}
			out = append(out, awkTok{kind: 'w', text: s[i:j]})
			i = j
		case c == ' ' || c == '\t' || c == '\r':
			i++
		default:
			out = append(out, awkTok{kind: 'p', text: string(c)})
			i++
		}
	}
	return out
}
