package interp

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

// shellArgs is a parsed shell command line.
type shellArgs struct {
	command     bool // -c
	stdin       bool // -s
	noexec      bool // -n
	interactive bool // -i
	login       bool
	rcfile      *family.Field
	operands    []family.Field
	dynOption   *family.Field
}

func parseShellArgs(args []family.Field) shellArgs {
	var sa shellArgs
	i := 1
	for i < len(args) {
		a := args[i]
		v := a.Val
		if !a.Static {
			if strings.HasPrefix(v, "-") {
				aa := a
				sa.dynOption = &aa
				i++
				continue
			}
			break
		}
		if v == "--" || v == "-" {
			i++
			break
		}
		if strings.HasPrefix(v, "--") {
			name, val, hasVal := strings.Cut(v, "=")
			switch name {
			case "--rcfile", "--init-file":
				if hasVal {
					f := a
					f.Val = val
					sa.rcfile = &f
					i++
				} else if i+1 < len(args) {
					f := args[i+1]
					sa.rcfile = &f
					i += 2
				} else {
					i++
				}
				continue
			case "--login":
				sa.login = true
			}
			i++
			continue
		}
		if len(v) > 1 && (v[0] == '-' || v[0] == '+') {
			consumed := false
			for j := 1; j < len(v); j++ {
				switch v[j] {
				case 'c':
					if v[0] == '-' {
						sa.command = true
					}
				case 's':
					sa.stdin = v[0] == '-'
				case 'n':
					sa.noexec = v[0] == '-'
				case 'i':
					sa.interactive = v[0] == '-'
				case 'l':
					sa.login = true
				case 'o', 'O':
					if j == len(v)-1 {
						consumed = true
					}
					j = len(v)
				}
			}
			i++
			if consumed {
				i++
			}
			continue
		}
		break
	}
	if i < len(args) {
		sa.operands = args[i:]
	}
	return sa
}

// judgeShell judges a shell invocation: the code it runs with -c, from stdin
// or from a file the command itself wrote, and its startup files.
func judgeShell(ctx Context, c *family.Call, base string) *family.Finding {
	sa := parseShellArgs(c.Args)
	if sa.dynOption != nil {
		if sa.dynOption.Input {
			return family.CarrierDynamic(ctx, c, "the input adds options to "+base)
		}
		return ctx.Block(guard.RuleDynamicScript, base+" is given options the engine cannot see ("+family.Clip(sa.dynOption.Src)+").", c.Seg)
	}
	if sa.noexec && base != "fish" {
		return nil
	}
	if f := startupFiles(ctx, c, base, sa); f != nil {
		return f
	}
	if sa.command {
		if len(sa.operands) == 0 {
			if c.Carrier != "" {
				return family.CarrierDynamic(ctx, c, base+" -c reads its code from the input")
			}
			return nil
		}
		code := sa.operands[0]
		var pos []family.Field
		var d0 *family.Field
		if len(sa.operands) > 1 {
			f := sa.operands[1]
			d0 = &f
			pos = sa.operands[2:]
		}
		if !code.Static {
			if code.Input {
				return family.CarrierDynamic(ctx, c, base+" -c runs code from the input")
			}
			return ctx.Block(guard.RuleDynamicScript, base+" -c runs code the engine cannot see ("+family.Clip(code.Src)+"); shell execution source cannot be verified.", c.Seg)
		}
		return ctx.JudgeShell(*c, code.Val, Shell{Args: pos, Dollar0: d0, Login: sa.login})
	}
	if sa.stdin || len(sa.operands) == 0 {
		return stdinScript(ctx, c, base, Shell{Args: sa.operands, Login: sa.login})
	}
	script := sa.operands[0]
	if !script.Static {
		if script.Input {
			return family.CarrierDynamic(ctx, c, base+" runs a script named by the input")
		}
		return ctx.Block(guard.RuleDynamicScript, base+" runs a script the engine cannot name ("+family.Clip(script.Src)+"); shell execution source cannot be verified.", c.Seg)
	}
	if content, known, ok := ctx.WrittenFile(c.Cwd, script.Val); ok {
		if !known {
			return ctx.Block(guard.RuleDynamicScript, base+" runs a script this command rewrote with content the engine cannot see.", c.Seg)
		}
		return ctx.JudgeShell(*c, content, Shell{Args: sa.operands[1:], Dollar0: &script, Login: sa.login})
	}
	return nil
}

// stdinScript judges the script a shell reads on standard input.
func stdinScript(ctx Context, c *family.Call, base string, sh Shell) *family.Finding {
	in := c.Stdin
	if in == nil || in.Kind == family.StdinNone {
		if c.Carrier != "" {
			return family.CarrierDynamic(ctx, c, base+" reads commands from the input")
		}
		return nil
	}
	if in.Kind == family.StdinFile {
		return nil
	}
	if !in.Known {
		return ctx.Block(guard.RuleDynamicScript, base+" reads a script from a pipe or heredoc the engine cannot see; shell execution source cannot be verified.", c.Seg)
	}
	return ctx.JudgeShell(*c, in.Text, sh)
}

// startupFiles judges BASH_ENV, ENV and --rcfile when the shell will read
// them: a startup file the engine cannot see is code it cannot judge.
func startupFiles(ctx Context, c *family.Call, base string, sa shellArgs) *family.Finding {
	var candidates []family.Field
	if base == "bash" && !sa.interactive {
		if v, ok := commandSetVar(ctx, c, "BASH_ENV"); ok {
			candidates = append(candidates, v)
		}
	}
	if sa.interactive && base != "bash" && base != "zsh" && base != "fish" {
		if v, ok := commandSetVar(ctx, c, "ENV"); ok {
			candidates = append(candidates, v)
		}
	}
	if sa.interactive && sa.rcfile != nil && base == "bash" {
		candidates = append(candidates, *sa.rcfile)
	}
	for _, file := range candidates {
		if file.Static && file.Val == "" {
			continue
		}
		if !file.Static {
			return ctx.Block(guard.RuleDynamicScript, base+" reads a startup file the engine cannot name; shell execution source cannot be verified.", c.Seg)
		}
		content, known, ok := ctx.WrittenFile(c.Cwd, file.Val)
		if !ok || !known {
			return ctx.Block(guard.RuleDynamicScript, base+" reads a startup file ("+file.Val+") the engine cannot see; shell execution source cannot be verified.", c.Seg)
		}
		if f := ctx.JudgeInherited(*c, content); f != nil {
			return f
		}
	}
	return nil
}

// commandSetVar returns a variable the command itself puts into the
// environment of the program it runs (assignments, exports in the script).
func commandSetVar(ctx Context, c *family.Call, name string) (family.Field, bool) {
	if v, ok := c.EnvValue(name); ok {
		return v, true
	}
	if v, ok := c.Shell.Vars()[name]; ok && v.Exported && v.FromScript {
		if !v.Known {
			return family.Field{Val: "$" + name}, true
		}
		return family.Field{Val: v.Val, Static: true}, true
	}
	return family.Field{}, false
}

// pythonWithValue are python's short options that take a value.
const pythonWithValue = "WXQ"

// interpArgs is a parsed interpreter command line.
type interpArgs struct {
	code      []family.Field // inline code (-c, -e, ...)
	stdin     bool           // script from stdin
	dash      bool           // stdin named explicitly with "-"
	script    *family.Field
	modules   []family.Field // -m, -r, --require, -M ...: code loaded by name
	dynOption *family.Field
	repl      bool
}

func parseInterpreter(kind string, args []family.Field) interpArgs {
	var ia interpArgs
	i := 1
	next := func() (family.Field, bool) {
		if i+1 < len(args) {
			i++
			return args[i], true
		}
		return family.Field{}, false
	}
	for i < len(args) {
		a := args[i]
		v := a.Val
		if !a.Static {
			if strings.HasPrefix(v, "-") {
				aa := a
				ia.dynOption = &aa
				i++
				continue
			}
			break
		}
		if v == "-" {
			ia.stdin, ia.dash = true, true
			return ia
		}
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") {
			break
		}
		switch kind {
		case "python":
			if strings.HasPrefix(v, "--") {
				if v == "--check-hash-based-pycs" {
					i++
				}
				i++
				continue
			}
			for j := 1; j < len(v); j++ {
				c := v[j]
				if c == 'c' || c == 'm' {
					rest := v[j+1:]
					var val family.Field
					if rest != "" {
						val = a
						val.Val = rest
					} else if n, ok := next(); ok {
						val = n
					} else {
						return ia
					}
					if c == 'c' {
						ia.code = append(ia.code, val)
					} else {
						ia.modules = append(ia.modules, val)
					}
					return ia
				}
				if strings.IndexByte(pythonWithValue, c) >= 0 {
					if j == len(v)-1 {
						next()
					}
					break
				}
			}
			i++
			continue
		case "node", "bun", "deno":
			name, val, hasVal := strings.Cut(v, "=")
			switch name {
			case "-e", "--eval", "-p", "--print":
				if hasVal {
					f := a
					f.Val = val
					ia.code = append(ia.code, f)
				} else if n, ok := next(); ok {
					ia.code = append(ia.code, n)
				}
				i++
				continue
			case "-pe", "-ep":
				if n, ok := next(); ok {
					ia.code = append(ia.code, n)
				}
				i++
				continue
			case "-r", "--require", "--import", "--loader", "--experimental-loader", "--preload":
				if hasVal {
					f := a
					f.Val = val
					ia.modules = append(ia.modules, f)
				} else if n, ok := next(); ok {
					ia.modules = append(ia.modules, n)
				}
				i++
				continue
			case "--input-type", "-C", "--conditions", "--title", "--env-file", "--inspect-port", "--max-old-space-size", "--stack-size", "--cwd", "--config":
				if !hasVal {
					next()
				}
				i++
				continue
			case "-i", "--interactive":
				ia.repl = true
			}
			i++
			continue
		case "ruby", "perl", "php", "lua", "luajit", "rscript", "osascript":
			codeFlags := map[string]string{"ruby": "e", "perl": "eE", "php": "rBRE", "lua": "e", "luajit": "e", "rscript": "e", "osascript": "e"}[kind]
			modFlags := map[string]string{"ruby": "r", "perl": "Mm", "lua": "l", "luajit": "l", "php": "f"}[kind]
			// valueFlags take the rest of the cluster or the next word;
			// attachedFlags only ever take the rest of the cluster.
			valueFlags := map[string]string{"ruby": "ICE", "php": "cdz", "osascript": "ls"}[kind]
			attachedFlags := map[string]string{"ruby": "xF0Wl", "perl": "IxlCdDFi0"}[kind]
			if strings.HasPrefix(v, "--") {
				i++
				continue
			}
			for j := 1; j < len(v); j++ {
				c := v[j]
				rest := v[j+1:]
				take := func() (family.Field, bool) {
					if rest != "" {
						f := a
						f.Val = rest
						return f, true
					}
					return next()
				}
				if strings.IndexByte(codeFlags, c) >= 0 {
					if f, ok := take(); ok {
						ia.code = append(ia.code, f)
					}
					break
				}
				if strings.IndexByte(modFlags, c) >= 0 {
					if f, ok := take(); ok {
						if kind == "php" {
							ia.script = &f
							return ia
						}
						ia.modules = append(ia.modules, f)
					}
					break
				}
				if strings.IndexByte(valueFlags, c) >= 0 {
					if rest == "" {
						next()
					}
					break
				}
				if strings.IndexByte(attachedFlags, c) >= 0 {
					break
				}
			}
			i++
			continue
		}
		i++
	}
	if len(ia.code) > 0 {
		return ia
	}
	if kind == "deno" || kind == "bun" {
		for i < len(args) && args[i].Static && (args[i].Val == "run" || args[i].Val == "eval" || args[i].Val == "x") {
			if args[i].Val == "eval" && i+1 < len(args) {
				ia.code = append(ia.code, args[i+1])
				return ia
			}
			i++
		}
	}
	if i < len(args) {
		s := args[i]
		ia.script = &s
	} else if !ia.repl {
		ia.stdin = true
	}
	return ia
}

// judgeInterpreter judges python, node, ruby, perl, ... invocations.
func judgeInterpreter(ctx Context, c *family.Call, base, kind string) *family.Finding {
	ia := parseInterpreter(kind, c.Args)
	if ia.dynOption != nil && ia.dynOption.Input {
		return family.CarrierDynamic(ctx, c, "the input adds options to "+base)
	}
	for _, m := range ia.modules {
		if !m.Static && m.Input {
			return family.CarrierDynamic(ctx, c, base+" loads a module named by the input")
		}
	}
	if ia.script != nil && !ia.script.Static && ia.script.Input {
		return family.CarrierDynamic(ctx, c, base+" runs a script named by the input")
	}
	if ctx.Mode().Has(guard.ModeStrict) {
		// Strict mode wants to see the program: a script or module named by
		// a variable, or read from an unseen stdin, is refused.
		unseen := ""
		for _, m := range ia.modules {
			if !m.Static {
				unseen = m.Src
			}
		}
		switch {
		case ia.script != nil && !ia.script.Static:
			unseen = ia.script.Src
		case (ia.dash || ia.script != nil && ia.script.Val == "-") && (c.Stdin == nil || !c.Stdin.Known):
			unseen = "-"
		case ia.dynOption != nil:
			unseen = ia.dynOption.Src
		}
		if unseen != "" {
			return ctx.Block(guard.RuleDynamicScript, base+" runs a program the engine cannot see ("+family.Clip(unseen)+"); shell execution source cannot be verified.", c.Seg)
		}
	}
	if len(ia.code) > 0 {
		if ctx.Mode().Has(guard.ModeParanoidInterpreters) || ctx.Switched(guard.RuleInterpreterParanoid) {
			if f := ctx.Block(guard.RuleInterpreterParanoid, "Interpreter one-liners are blocked in paranoid mode.\n\n(Paranoid mode: interpreter one-liners are blocked.)", c.Seg); f != nil {
				return f
			}
		}
		for _, code := range ia.code {
			if !code.Static {
				if code.Input {
					return family.CarrierDynamic(ctx, c, base+" runs code from the input")
				}
				return ctx.Block(guard.RuleDynamicScript, base+" runs inline code the engine cannot see ("+family.Clip(code.Src)+"); shell execution source cannot be verified.", c.Seg)
			}
			if f := interpreterCode(ctx, c, kind, code.Val); f != nil {
				return f
			}
		}
		return nil
	}
	if ia.stdin && c.Stdin != nil && c.Stdin.Kind != family.StdinNone && c.Stdin.Kind != family.StdinFile {
		if ctx.Mode().Has(guard.ModeParanoidInterpreters) || ctx.Switched(guard.RuleInterpreterParanoid) {
			if f := ctx.Block(guard.RuleInterpreterParanoid, "Interpreter scripts fed on stdin are blocked in paranoid mode.\n\n(Paranoid mode: interpreter one-liners are blocked.)", c.Seg); f != nil {
				return f
			}
		}
		if !c.Stdin.Known {
			return ctx.Block(guard.RuleDynamicScript, base+" reads a script from a pipe the engine cannot see; shell execution source cannot be verified.", c.Seg)
		}
		if c.Stdin.Kind == family.StdinHeredoc && !c.Stdin.Quoted {
			if f := rawtext.Scan(ctx, c.Stdin.Text, c.Seg); f != nil {
				return f
			}
		}
		return interpreterCode(ctx, c, kind, c.Stdin.Text)
	}
	if ia.stdin && c.Carrier != "" {
		return family.CarrierDynamic(ctx, c, base+" reads its program from the input")
	}
	if ia.script != nil && ia.script.Static {
		if content, known, ok := ctx.WrittenFile(c.Cwd, ia.script.Val); ok && known {
			return interpreterCode(ctx, c, kind, content)
		}
	}
	return nil
}
