package policy

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

// judgeCode judges shell code handed over as one string (watch, su -c, ssh...).
func (r *run) judgeCode(cc *cmdCall, code family.Field, origin string) *family.Finding {
	if !code.Static {
		if code.Input {
			return family.CarrierDynamic(r, &cc.Call, origin+" runs input as shell code")
		}
		return r.Block(guard.RuleDynamicScript, origin+" runs shell code the engine cannot see ("+family.Clip(code.Src)+"); shell execution source cannot be verified.", cc.Seg)
	}
	sc := r.childScope(cc)
	sc.posKnown = true
	return r.judgeScript(code.Val, sc, scriptNested)
}

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

// analyzeShell judges a shell invocation: the code it runs with -c, from stdin
// or from a file the command itself wrote, and its startup files.
func (r *run) analyzeShell(cc *cmdCall, base string) *family.Finding {
	sa := parseShellArgs(cc.Args)
	if sa.dynOption != nil {
		if sa.dynOption.Input {
			return family.CarrierDynamic(r, &cc.Call, "the input adds options to "+base)
		}
		return r.Block(guard.RuleDynamicScript, base+" is given options the engine cannot see ("+family.Clip(sa.dynOption.Src)+").", cc.Seg)
	}
	if sa.noexec && base != "fish" {
		return nil
	}
	if f := r.shellStartupFiles(cc, base, sa); f != nil {
		return f
	}
	newScope := func(pos []family.Field, dollar0 *family.Field) *scope {
		sc := r.childScope(cc)
		if sa.login {
			sc.cwd = ""
		}
		if n := len(pos); n > 0 && family.IsAppendedInput(pos[n-1]) {
			pos, sc.posInput = pos[:n-1], true
		}
		sc.pos, sc.posKnown, sc.dollar0 = pos, true, dollar0
		return sc
	}
	if sa.command {
		if len(sa.operands) == 0 {
			if cc.Carrier != "" {
				return family.CarrierDynamic(r, &cc.Call, base+" -c reads its code from the input")
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
				return family.CarrierDynamic(r, &cc.Call, base+" -c runs code from the input")
			}
			return r.Block(guard.RuleDynamicScript, base+" -c runs code the engine cannot see ("+family.Clip(code.Src)+"); shell execution source cannot be verified.", cc.Seg)
		}
		return r.judgeScript(code.Val, newScope(pos, d0), scriptNested)
	}
	if sa.stdin || len(sa.operands) == 0 {
		return r.judgeStdinScript(cc, base, func() *scope { return newScope(sa.operands, nil) })
	}
	script := sa.operands[0]
	if !script.Static {
		if script.Input {
			return family.CarrierDynamic(r, &cc.Call, base+" runs a script named by the input")
		}
		return r.Block(guard.RuleDynamicScript, base+" runs a script the engine cannot name ("+family.Clip(script.Src)+"); shell execution source cannot be verified.", cc.Seg)
	}
	if wf := r.writtenFile(cc.Cwd, script.Val); wf != nil {
		if !wf.known {
			return r.Block(guard.RuleDynamicScript, base+" runs a script this command rewrote with content the engine cannot see.", cc.Seg)
		}
		return r.judgeScript(wf.content, newScope(sa.operands[1:], &script), scriptNested)
	}
	return nil
}

// judgeStdinScript judges the script a shell reads on standard input.
func (r *run) judgeStdinScript(cc *cmdCall, base string, mk func() *scope) *family.Finding {
	in := cc.Stdin
	if in == nil || in.Kind == family.StdinNone {
		if cc.Carrier != "" {
			return family.CarrierDynamic(r, &cc.Call, base+" reads commands from the input")
		}
		return nil
	}
	if in.Kind == family.StdinFile {
		return nil
	}
	if !in.Known {
		return r.Block(guard.RuleDynamicScript, base+" reads a script from a pipe or heredoc the engine cannot see; shell execution source cannot be verified.", cc.Seg)
	}
	return r.judgeScript(in.Text, mk(), scriptNested)
}

// shellStartupFiles judges BASH_ENV, ENV and --rcfile when the shell will read
// them: a startup file the engine cannot see is code it cannot judge.
func (r *run) shellStartupFiles(cc *cmdCall, base string, sa shellArgs) *family.Finding {
	var candidates []family.Field
	if base == "bash" && !sa.interactive {
		if v, ok := r.commandSetVar(cc, "BASH_ENV"); ok {
			candidates = append(candidates, v)
		}
	}
	if sa.interactive && base != "bash" && base != "zsh" && base != "fish" {
		if v, ok := r.commandSetVar(cc, "ENV"); ok {
			candidates = append(candidates, v)
		}
	}
	if sa.interactive && sa.rcfile != nil && base == "bash" {
		candidates = append(candidates, *sa.rcfile)
	}
	for _, c := range candidates {
		if c.Static && c.Val == "" {
			continue
		}
		if !c.Static {
			return r.Block(guard.RuleDynamicScript, base+" reads a startup file the engine cannot name; shell execution source cannot be verified.", cc.Seg)
		}
		wf := r.writtenFile(cc.Cwd, c.Val)
		if wf == nil || !wf.known {
			return r.Block(guard.RuleDynamicScript, base+" reads a startup file ("+c.Val+") the engine cannot see; shell execution source cannot be verified.", cc.Seg)
		}
		sc := cc.sc.child()
		sc.cwd = cc.Cwd
		if f := r.judgeScript(wf.content, sc, scriptNested); f != nil {
			return f
		}
	}
	return nil
}

// commandSetVar returns a variable the command itself puts into the
// environment of the program it runs (assignments, exports in the script).
func (r *run) commandSetVar(cc *cmdCall, name string) (family.Field, bool) {
	if v, ok := cc.EnvValue(name); ok {
		return v, true
	}
	if v, ok := cc.sc.vars[name]; ok && v.Exported && v.FromScript {
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

// analyzeInterpreter judges python, node, ruby, perl, ... invocations.
func (r *run) analyzeInterpreter(cc *cmdCall, base, kind string) *family.Finding {
	ia := parseInterpreter(kind, cc.Args)
	if ia.dynOption != nil && ia.dynOption.Input {
		return family.CarrierDynamic(r, &cc.Call, "the input adds options to "+base)
	}
	for _, m := range ia.modules {
		if !m.Static && m.Input {
			return family.CarrierDynamic(r, &cc.Call, base+" loads a module named by the input")
		}
	}
	if ia.script != nil && !ia.script.Static && ia.script.Input {
		return family.CarrierDynamic(r, &cc.Call, base+" runs a script named by the input")
	}
	if r.mode.Has(guard.ModeStrict) {
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
		case (ia.dash || ia.script != nil && ia.script.Val == "-") && (cc.Stdin == nil || !cc.Stdin.Known):
			unseen = "-"
		case ia.dynOption != nil:
			unseen = ia.dynOption.Src
		}
		if unseen != "" {
			return r.Block(guard.RuleDynamicScript, base+" runs a program the engine cannot see ("+family.Clip(unseen)+"); shell execution source cannot be verified.", cc.Seg)
		}
	}
	if len(ia.code) > 0 {
		if r.mode.Has(guard.ModeParanoidInterpreters) || r.req.Policy.RuleSwitches[guard.RuleInterpreterParanoid] {
			if f := r.Block(guard.RuleInterpreterParanoid, "Interpreter one-liners are blocked in paranoid mode.\n\n(Paranoid mode: interpreter one-liners are blocked.)", cc.Seg); f != nil {
				return f
			}
		}
		for _, c := range ia.code {
			if !c.Static {
				if c.Input {
					return family.CarrierDynamic(r, &cc.Call, base+" runs code from the input")
				}
				return r.Block(guard.RuleDynamicScript, base+" runs inline code the engine cannot see ("+family.Clip(c.Src)+"); shell execution source cannot be verified.", cc.Seg)
			}
			if f := r.judgeInterpreterCode(cc, kind, c.Val); f != nil {
				return f
			}
		}
		return nil
	}
	if ia.stdin && cc.Stdin != nil && cc.Stdin.Kind != family.StdinNone && cc.Stdin.Kind != family.StdinFile {
		if r.mode.Has(guard.ModeParanoidInterpreters) || r.req.Policy.RuleSwitches[guard.RuleInterpreterParanoid] {
			if f := r.Block(guard.RuleInterpreterParanoid, "Interpreter scripts fed on stdin are blocked in paranoid mode.\n\n(Paranoid mode: interpreter one-liners are blocked.)", cc.Seg); f != nil {
				return f
			}
		}
		if !cc.Stdin.Known {
			return r.Block(guard.RuleDynamicScript, base+" reads a script from a pipe the engine cannot see; shell execution source cannot be verified.", cc.Seg)
		}
		if cc.Stdin.Kind == family.StdinHeredoc && !cc.Stdin.Quoted {
			if f := rawtext.Scan(r, cc.Stdin.Text, cc.Seg); f != nil {
				return f
			}
		}
		return r.judgeInterpreterCode(cc, kind, cc.Stdin.Text)
	}
	if ia.stdin && cc.Carrier != "" {
		return family.CarrierDynamic(r, &cc.Call, base+" reads its program from the input")
	}
	if ia.script != nil && ia.script.Static {
		if wf := r.writtenFile(cc.Cwd, ia.script.Val); wf != nil && wf.known {
			return r.judgeInterpreterCode(cc, kind, wf.content)
		}
	}
	return nil
}
