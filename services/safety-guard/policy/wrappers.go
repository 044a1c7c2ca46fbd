package policy

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/interp"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

// Immutable option tables of the wrappers the engine peels.
var (
	sudoOpts    = family.OptSpec{WithValue: family.NameSet("--chdir", "--close-from", "--group", "--host", "--prompt", "--chroot", "--role", "--type", "--command-timeout", "--other-user", "--user"), ShortWithValue: "CDghpRrTtUu"}
	doasOpts    = family.OptSpec{ShortWithValue: "uC"}
	ioniceOpts  = family.OptSpec{WithValue: family.NameSet("--class", "--classdata", "--pid", "--pgid", "--uid"), ShortWithValue: "cnPpu"}
	stdbufOpts  = family.OptSpec{WithValue: family.NameSet("--input", "--output", "--error"), ShortWithValue: "ioe"}
	timeoutOpts = family.OptSpec{WithValue: family.NameSet("--signal", "--kill-after"), ShortWithValue: "sk"}
	timeOpts    = family.OptSpec{WithValue: family.NameSet("--format", "--output"), ShortWithValue: "fo"}
	flockOpts   = family.OptSpec{WithValue: family.NameSet("--timeout", "--wait", "--conflict-exit-code"), ShortWithValue: "wE"}
	caffOpts    = family.OptSpec{ShortWithValue: "tw"}
	setsidOpts  = family.OptSpec{}
	chrootOpts  = family.OptSpec{WithValue: family.NameSet("--userspec", "--groups")}
	straceOpts  = family.OptSpec{WithValue: family.NameSet("--output", "--attach", "--expr", "--string-limit", "--user", "--env"), ShortWithValue: "abeEIOoPpSsUuX"}
	execOpts    = family.OptSpec{ShortWithValue: "a"}
	sshOpts     = family.OptSpec{ShortWithValue: "BbcDEeFIiJLlmOopQRSWw"}
	tsOpts      = family.OptSpec{WithValue: family.NameSet("--cpu-list")}
	xvfbOpts    = family.OptSpec{WithValue: family.NameSet("--server-num", "--error-file", "--server-args", "--auth-file", "--xauth-protocol"), ShortWithValue: "nefsp"}
)

// peelWrapper handles commands that run another command. handled is true
// when the wrapper was recognised and the inner command judged.
func (r *run) peelWrapper(cc *cmdCall, base string) (bool, *family.Finding) {
	args := cc.Args
	inner := func(from int) *family.Finding {
		if from >= len(args) {
			return nil
		}
		n := cc.with(args[from:])
		n.external = true
		return r.analyzeCall(n)
	}
	switch base {
	case "sudo", "sudoedit":
		i := 1
		n := cc.with(nil)
		n.external = true
		for i < len(args) {
			a := args[i].Val
			if a == "--" {
				i++
				break
			}
			if !strings.HasPrefix(a, "-") || a == "-" {
				break
			}
			switch {
			case a == "-D" || a == "--chdir":
				if i+1 < len(args) {
					n.Cwd = family.ResolveDir(n.Cwd, args[i+1])
				}
				i += 2
				continue
			case strings.HasPrefix(a, "--chdir="):
				n.Cwd = family.ResolveDir(n.Cwd, family.Field{Val: a[len("--chdir="):], Static: args[i].Static})
			case strings.HasPrefix(a, "-D") && len(a) > 2:
				n.Cwd = family.ResolveDir(n.Cwd, family.Field{Val: a[2:], Static: args[i].Static})
			case a == "-i" || a == "--login":
				n.Cwd = ""
			case a == "-e" || a == "--edit" || a == "-l" || a == "--list" || a == "-v" || a == "--validate" || a == "-V" || a == "--version" || a == "-k" || a == "-K":
				if base == "sudoedit" || a == "-e" || a == "--edit" {
					return true, nil
				}
			}
			if strings.HasPrefix(a, "--") {
				if sudoOpts.WithValue[a] {
					i += 2
					continue
				}
				i++
				continue
			}
			if len(a) == 2 && strings.IndexByte(sudoOpts.ShortWithValue, a[1]) >= 0 {
				i += 2
				continue
			}
			i++
		}
		if base == "sudoedit" || i >= len(args) {
			return true, nil
		}
		n.Args = args[i:]
		return true, r.analyzeCall(n)
	case "doas":
		return true, inner(family.SkipOptions(args, 1, doasOpts))
	case "env":
		return true, r.peelEnv(cc)
	case "command":
		i := 1
		lookup := false
		for i < len(args) {
			a := args[i].Val
			if a == "--" {
				i++
				break
			}
			if len(a) > 1 && a[0] == '-' && strings.Trim(a[1:], "pvV") == "" {
				lookup = lookup || strings.ContainsAny(a, "vV")
				i++
				continue
			}
			break
		}
		if i >= len(args) {
			return true, nil
		}
		n := cc.with(args[i:])
		n.noFunc = true
		n.LookupOnly = cc.LookupOnly || lookup
		return true, r.analyzeCall(n)
	case "builtin":
		i := 1
		if i < len(args) && args[i].Val == "--" {
			i++
		}
		if i >= len(args) {
			return true, nil
		}
		n := cc.with(args[i:])
		n.noFunc = true
		return true, r.analyzeCall(n)
	case "exec":
		return true, inner(family.SkipOptions(args, 1, execOpts))
	case "nohup", "setsid", "unbuffer", "catchsegv", "dbus-run-session", "rlwrap", "torsocks", "proxychains", "proxychains4", "tsocks", "valgrind":
		return true, inner(family.SkipOptions(args, 1, setsidOpts))
	case "nice":
		i := 1
		for i < len(args) {
			a := args[i].Val
			if a == "--" {
				i++
				break
			}
			if a == "-n" || a == "--adjustment" {
				i += 2
				continue
			}
			if strings.HasPrefix(a, "-") && len(a) > 1 {
				i++
				continue
			}
			break
		}
		return true, inner(i)
	case "ionice":
		return true, inner(family.SkipOptions(args, 1, ioniceOpts))
	case "stdbuf":
		return true, inner(family.SkipOptions(args, 1, stdbufOpts))
	case "chrt":
		i := family.SkipOptions(args, 1, family.OptSpec{})
		if i < len(args) && family.IsDigits(args[i].Val) {
			i++
		}
		return true, inner(i)
	case "taskset":
		i := family.SkipOptions(args, 1, tsOpts)
		if i < len(args) && !strings.HasPrefix(args[i].Val, "-") {
			i++ // the mask or cpu list
		}
		return true, inner(i)
	case "timeout":
		i := family.SkipOptions(args, 1, timeoutOpts)
		if i < len(args) {
			i++ // the duration
		}
		return true, inner(i)
	case "time":
		return true, inner(family.SkipOptions(args, 1, timeOpts))
	case "caffeinate":
		return true, inner(family.SkipOptions(args, 1, caffOpts))
	case "strace", "ltrace":
		return true, inner(family.SkipOptions(args, 1, straceOpts))
	case "xvfb-run":
		return true, inner(family.SkipOptions(args, 1, xvfbOpts))
	case "chroot":
		i := family.SkipOptions(args, 1, chrootOpts)
		if i < len(args) {
			i++ // the new root
		}
		n := cc.with(nil)
		n.Cwd = ""
		if i >= len(args) {
			return true, nil
		}
		n.Args = args[i:]
		n.external = true
		return true, r.analyzeCall(n)
	case "watch":
		return true, r.peelWatch(cc)
	case "flock":
		return true, r.peelFlock(cc)
	case "su", "runuser":
		return true, r.peelSu(cc)
	case "script":
		for i := 1; i < len(args); i++ {
			a := args[i].Val
			if (a == "-c" || a == "--command") && i+1 < len(args) {
				return true, r.judgeCode(cc, args[i+1], "script -c")
			}
			if strings.HasPrefix(a, "--command=") {
				return true, r.judgeCode(cc, family.Field{Val: a[len("--command="):], Static: args[i].Static, Src: args[i].Src}, "script -c")
			}
		}
		return true, nil
	case "ssh":
		return true, r.peelSSH(cc)
	case "busybox", "toybox":
		if len(args) < 2 {
			return true, nil
		}
		n := cc.with(args[1:])
		n.external = true
		return true, r.analyzeCall(n)
	case "xargs":
		return true, interp.JudgeCarrier(r, &cc.Call)
	case "parallel", "sem":
		return true, interp.JudgeCarrier(r, &cc.Call)
	case "uv", "poetry", "pipenv", "bundle", "pdm", "hatch", "rye":
		if len(args) > 2 && (args[1].Val == "run" || args[1].Val == "exec") {
			return true, inner(family.SkipOptions(args, 2, family.OptSpec{WithValue: family.NameSet("--with", "--python", "--directory", "--project", "--env-file", "--group", "--extra", "--package")}))
		}
		return false, nil
	}
	if r.wrappers[base] {
		return true, r.peelTransparent(cc)
	}
	return false, nil
}

// peelTransparent judges every suffix of a configured transparent wrapper
// that could be the wrapped command, since the wrapper's own options are unknown.
func (r *run) peelTransparent(cc *cmdCall) *family.Finding {
	args := cc.Args
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		if _, _, ok := family.SplitAssignment(a); ok {
			continue
		}
		n := cc.with(args[i:])
		n.external = true
		if f := r.analyzeCall(n); f != nil {
			return f
		}
		if r.abort != nil {
			return r.abort
		}
	}
	return nil
}

// peelEnv handles env [-i] [-u NAME] [-C DIR] [-S STRING] [NAME=value]... cmd.
func (r *run) peelEnv(cc *cmdCall) *family.Finding {
	args := append([]family.Field(nil), cc.Args...)
	n := cc.with(nil)
	n.Env = append([]family.EnvAssign(nil), cc.Env...)
	i := 1
	splits := 0
	for i < len(args) {
		a := args[i]
		v := a.Val
		switch {
		case v == "--":
			i++
			goto command
		case v == "-" || v == "-i" || v == "--ignore-environment" || v == "-0" || v == "--null" || v == "-v" || v == "--debug":
			i++
		case v == "-u" || v == "--unset" || v == "-P":
			i += 2
		case strings.HasPrefix(v, "--unset=") || strings.HasPrefix(v, "-u") || strings.HasPrefix(v, "-P"):
			i++
		case v == "-C" || v == "--chdir":
			if i+1 < len(args) {
				n.Cwd = family.ResolveDir(n.Cwd, args[i+1])
			}
			i += 2
		case strings.HasPrefix(v, "--chdir=") || strings.HasPrefix(v, "-C"):
			t := strings.TrimPrefix(strings.TrimPrefix(v, "--chdir="), "-C")
			t = strings.TrimPrefix(t, "=")
			n.Cwd = family.ResolveDir(n.Cwd, family.Field{Val: t, Static: a.Static})
			i++
		case v == "-S" || v == "--split-string" || strings.HasPrefix(v, "-S") || strings.HasPrefix(v, "--split-string="):
			var s family.Field
			width := 1
			switch {
			case v == "-S" || v == "--split-string":
				if i+1 >= len(args) {
					return nil
				}
				s, width = args[i+1], 2
			case strings.HasPrefix(v, "--split-string="):
				s = a
				s.Val = v[len("--split-string="):]
			default:
				s = a
				s.Val = v[2:]
			}
			if !s.Static {
				if s.Input {
					return family.CarrierDynamic(r, &cc.Call, "env -S splits input into the command line")
				}
				return r.Block(guard.RuleDynamicScript, "env -S splits a value the engine cannot see into the command line ("+family.Clip(s.Src)+").", cc.Seg)
			}
			if f := rawtext.Scan(r, s.Val, cc.Seg); f != nil {
				return f
			}
			if r.mode.Has(guard.ModeStrict) {
				// env -S has its own quoting and escape rules; strict mode
				// does not trust a re-split command line.
				return r.Block(guard.RuleDynamicScript, "env -S splits a string into a command line, which strict mode does not verify; write the command directly.", cc.Seg)
			}
			splits++
			if splits > 8 {
				return &family.Finding{Rule: guard.RuleEngineDepth, Segment: cc.Seg, Reason: "env -S nests too deeply to be analysed safely."}
			}
			words, ok := family.SplitEnvString(s.Val)
			if !ok {
				return rawtext.Scan(r, s.Val, cc.Seg)
			}
			rest := append(append(append([]family.Field(nil), args[:i]...), words...), args[i+width:]...)
			args = rest
		case strings.HasPrefix(v, "-") && len(v) > 1:
			i++
		default:
			if name, val, ok := family.SplitAssignment(a); ok {
				n.Env = append(n.Env, family.EnvAssign{Name: name, Val: val})
				i++
				continue
			}
			goto command
		}
	}
command:
	if i >= len(args) {
		return nil
	}
	n.Args = args[i:]
	n.external = true
	return r.analyzeCall(n)
}

// peelWatch: watch runs its arguments joined by spaces through sh -c, unless -x.
func (r *run) peelWatch(cc *cmdCall) *family.Finding {
	args := cc.Args
	i := 1
	execMode := false
	for i < len(args) {
		a := args[i].Val
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			break
		}
		if a == "-x" || a == "--exec" {
			execMode = true
		}
		if a == "-n" || a == "-q" || a == "--interval" {
			i += 2
			continue
		}
		i++
	}
	if i >= len(args) {
		return nil
	}
	if execMode || len(args)-i == 1 && args[i].Static && !strings.ContainsAny(args[i].Val, " \t;|&") {
		n := cc.with(args[i:])
		n.external = true
		return r.analyzeCall(n)
	}
	if f := r.judgeCode(cc, family.JoinFields(args[i:], " "), "watch"); f != nil {
		return f
	}
	// watch joins its arguments for sh -c, which re-splits quoted scripts;
	// the argv reading catches what a differently built watch would run.
	n := cc.with(args[i:])
	n.external = true
	return r.analyzeCall(n)
}

// peelFlock: flock [options] file|dir command [args], or flock -c command.
func (r *run) peelFlock(cc *cmdCall) *family.Finding {
	args := cc.Args
	for i := 1; i < len(args); i++ {
		if (args[i].Val == "-c" || args[i].Val == "--command") && i+1 < len(args) {
			return r.judgeCode(cc, args[i+1], "flock -c")
		}
	}
	i := family.SkipOptions(args, 1, flockOpts)
	if i < len(args) {
		i++ // lock file or fd
	}
	if i >= len(args) {
		return nil
	}
	n := cc.with(args[i:])
	n.external = true
	return r.analyzeCall(n)
}

// peelSu: su/runuser run a shell; -c carries shell code.
func (r *run) peelSu(cc *cmdCall) *family.Finding {
	args := cc.Args
	for i := 1; i < len(args); i++ {
		a := args[i].Val
		switch {
		case (a == "-c" || a == "--command" || a == "--session-command") && i+1 < len(args):
			return r.judgeCode(cc, args[i+1], "su -c")
		case strings.HasPrefix(a, "--command="):
			f := args[i]
			f.Val = a[len("--command="):]
			return r.judgeCode(cc, f, "su -c")
		}
	}
	// runuser -u user -- cmd args
	for i := 1; i < len(args); i++ {
		if args[i].Val == "--" && i+1 < len(args) {
			n := cc.with(args[i+1:])
			n.external = true
			n.Cwd = ""
			return r.analyzeCall(n)
		}
	}
	return nil
}

// peelSSH judges the remote command of ssh as shell code: it runs elsewhere,
// but a destructive command stays destructive.
func (r *run) peelSSH(cc *cmdCall) *family.Finding {
	args := cc.Args
	i := 1
	for i < len(args) {
		a := args[i].Val
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			break
		}
		if len(a) == 2 && strings.IndexByte(sshOpts.ShortWithValue, a[1]) >= 0 {
			i += 2
			continue
		}
		i++
	}
	i++ // destination
	if i >= len(args) {
		return nil
	}
	n := cc.with(nil)
	n.Cwd = ""
	return r.judgeCode(n, family.JoinFields(args[i:], " "), "ssh")
}

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
