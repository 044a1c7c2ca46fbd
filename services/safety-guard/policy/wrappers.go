package policy

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
)

// optSpec describes a wrapper's options: which take a value, and whether
// option parsing stops at the first operand.
type optSpec struct {
	// withValue lists options that consume a value ("-u", "--user").
	withValue map[string]bool
	// shortWithValue lists short option letters that take a value, attached
	// ("-uroot") or separate.
	shortWithValue string
}

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, i := range items {
		m[i] = true
	}
	return m
}

// Immutable option tables of the wrappers the engine peels.
var (
	sudoOpts    = optSpec{withValue: set("--chdir", "--close-from", "--group", "--host", "--prompt", "--chroot", "--role", "--type", "--command-timeout", "--other-user", "--user"), shortWithValue: "CDghpRrTtUu"}
	doasOpts    = optSpec{shortWithValue: "uC"}
	ioniceOpts  = optSpec{withValue: set("--class", "--classdata", "--pid", "--pgid", "--uid"), shortWithValue: "cnPpu"}
	stdbufOpts  = optSpec{withValue: set("--input", "--output", "--error"), shortWithValue: "ioe"}
	timeoutOpts = optSpec{withValue: set("--signal", "--kill-after"), shortWithValue: "sk"}
	timeOpts    = optSpec{withValue: set("--format", "--output"), shortWithValue: "fo"}
	flockOpts   = optSpec{withValue: set("--timeout", "--wait", "--conflict-exit-code"), shortWithValue: "wE"}
	caffOpts    = optSpec{shortWithValue: "tw"}
	setsidOpts  = optSpec{}
	chrootOpts  = optSpec{withValue: set("--userspec", "--groups")}
	straceOpts  = optSpec{withValue: set("--output", "--attach", "--expr", "--string-limit", "--user", "--env"), shortWithValue: "abeEIOoPpSsUuX"}
	execOpts    = optSpec{shortWithValue: "a"}
	sshOpts     = optSpec{shortWithValue: "BbcDEeFIiJLlmOopQRSWw"}
	tsOpts      = optSpec{withValue: set("--cpu-list")}
	xvfbOpts    = optSpec{withValue: set("--server-num", "--error-file", "--server-args", "--auth-file", "--xauth-protocol"), shortWithValue: "nefsp"}
)

// skipOptions returns the index of the first operand after the options of a
// wrapper, honouring "--" and options that take a value.
func skipOptions(args []field, from int, spec optSpec) int {
	i := from
	for i < len(args) {
		a := args[i].val
		switch {
		case a == "--":
			return i + 1
		case strings.HasPrefix(a, "--"):
			if strings.Contains(a, "=") {
				// --name=value carries its value.
				i++
				continue
			}
			if spec.withValue[a] {
				i += 2
				continue
			}
			i++
		case len(a) > 1 && a[0] == '-':
			// Short options, possibly clustered; a value option consumes the rest
			// of the word or the next word.
			consumed := false
			for j := 1; j < len(a); j++ {
				if strings.IndexByte(spec.shortWithValue, a[j]) >= 0 {
					if j == len(a)-1 {
						i++
					}
					consumed = true
					break
				}
			}
			_ = consumed
			i++
		default:
			return i
		}
	}
	return i
}

// peelWrapper handles commands that run another command. handled is true
// when the wrapper was recognised and the inner command judged.
func (r *run) peelWrapper(cc *cmdCall, base string) (bool, *finding) {
	args := cc.args
	inner := func(from int) *finding {
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
			a := args[i].val
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
					n.cwd = resolveDir(n.cwd, args[i+1])
				}
				i += 2
				continue
			case strings.HasPrefix(a, "--chdir="):
				n.cwd = resolveDir(n.cwd, field{val: a[len("--chdir="):], static: args[i].static})
			case strings.HasPrefix(a, "-D") && len(a) > 2:
				n.cwd = resolveDir(n.cwd, field{val: a[2:], static: args[i].static})
			case a == "-i" || a == "--login":
				n.cwd = ""
			case a == "-e" || a == "--edit" || a == "-l" || a == "--list" || a == "-v" || a == "--validate" || a == "-V" || a == "--version" || a == "-k" || a == "-K":
				if base == "sudoedit" || a == "-e" || a == "--edit" {
					return true, nil
				}
			}
			if strings.HasPrefix(a, "--") {
				if sudoOpts.withValue[a] {
					i += 2
					continue
				}
				i++
				continue
			}
			if len(a) == 2 && strings.IndexByte(sudoOpts.shortWithValue, a[1]) >= 0 {
				i += 2
				continue
			}
			i++
		}
		if base == "sudoedit" || i >= len(args) {
			return true, nil
		}
		n.args = args[i:]
		return true, r.analyzeCall(n)
	case "doas":
		return true, inner(skipOptions(args, 1, doasOpts))
	case "env":
		return true, r.peelEnv(cc)
	case "command":
		i := 1
		lookup := false
		for i < len(args) {
			a := args[i].val
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
		n.lookupOnly = cc.lookupOnly || lookup
		return true, r.analyzeCall(n)
	case "builtin":
		i := 1
		if i < len(args) && args[i].val == "--" {
			i++
		}
		if i >= len(args) {
			return true, nil
		}
		n := cc.with(args[i:])
		n.noFunc = true
		return true, r.analyzeCall(n)
	case "exec":
		return true, inner(skipOptions(args, 1, execOpts))
	case "nohup", "setsid", "unbuffer", "catchsegv", "dbus-run-session", "rlwrap", "torsocks", "proxychains", "proxychains4", "tsocks", "valgrind":
		return true, inner(skipOptions(args, 1, setsidOpts))
	case "nice":
		i := 1
		for i < len(args) {
			a := args[i].val
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
		return true, inner(skipOptions(args, 1, ioniceOpts))
	case "stdbuf":
		return true, inner(skipOptions(args, 1, stdbufOpts))
	case "chrt":
		i := skipOptions(args, 1, optSpec{})
		if i < len(args) && isDigits(args[i].val) {
			i++
		}
		return true, inner(i)
	case "taskset":
		i := skipOptions(args, 1, tsOpts)
		if i < len(args) && !strings.HasPrefix(args[i].val, "-") {
			i++ // the mask or cpu list
		}
		return true, inner(i)
	case "timeout":
		i := skipOptions(args, 1, timeoutOpts)
		if i < len(args) {
			i++ // the duration
		}
		return true, inner(i)
	case "time":
		return true, inner(skipOptions(args, 1, timeOpts))
	case "caffeinate":
		return true, inner(skipOptions(args, 1, caffOpts))
	case "strace", "ltrace":
		return true, inner(skipOptions(args, 1, straceOpts))
	case "xvfb-run":
		return true, inner(skipOptions(args, 1, xvfbOpts))
	case "chroot":
		i := skipOptions(args, 1, chrootOpts)
		if i < len(args) {
			i++ // the new root
		}
		n := cc.with(nil)
		n.cwd = ""
		if i >= len(args) {
			return true, nil
		}
		n.args = args[i:]
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
			a := args[i].val
			if (a == "-c" || a == "--command") && i+1 < len(args) {
				return true, r.judgeCode(cc, args[i+1], "script -c")
			}
			if strings.HasPrefix(a, "--command=") {
				return true, r.judgeCode(cc, field{val: a[len("--command="):], static: args[i].static, src: args[i].src}, "script -c")
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
		return true, r.analyzeXargs(cc)
	case "parallel", "sem":
		return true, r.analyzeParallel(cc, base)
	case "uv", "poetry", "pipenv", "bundle", "pdm", "hatch", "rye":
		if len(args) > 2 && (args[1].val == "run" || args[1].val == "exec") {
			return true, inner(skipOptions(args, 2, optSpec{withValue: set("--with", "--python", "--directory", "--project", "--env-file", "--group", "--extra", "--package")}))
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
func (r *run) peelTransparent(cc *cmdCall) *finding {
	args := cc.args
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a.val, "-") {
			continue
		}
		if _, _, ok := splitAssignment(a); ok {
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
func (r *run) peelEnv(cc *cmdCall) *finding {
	args := append([]field(nil), cc.args...)
	n := cc.with(nil)
	n.env = append([]envAssign(nil), cc.env...)
	i := 1
	splits := 0
	for i < len(args) {
		a := args[i]
		v := a.val
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
				n.cwd = resolveDir(n.cwd, args[i+1])
			}
			i += 2
		case strings.HasPrefix(v, "--chdir=") || strings.HasPrefix(v, "-C"):
			t := strings.TrimPrefix(strings.TrimPrefix(v, "--chdir="), "-C")
			t = strings.TrimPrefix(t, "=")
			n.cwd = resolveDir(n.cwd, field{val: t, static: a.static})
			i++
		case v == "-S" || v == "--split-string" || strings.HasPrefix(v, "-S") || strings.HasPrefix(v, "--split-string="):
			var s field
			width := 1
			switch {
			case v == "-S" || v == "--split-string":
				if i+1 >= len(args) {
					return nil
				}
				s, width = args[i+1], 2
			case strings.HasPrefix(v, "--split-string="):
				s = a
				s.val = v[len("--split-string="):]
			default:
				s = a
				s.val = v[2:]
			}
			if !s.static {
				if s.input {
					return r.carrierDynamic(cc, "env -S splits input into the command line")
				}
				return r.block(guard.RuleDynamicScript, "env -S splits a value the engine cannot see into the command line ("+clip(s.src)+").", cc.seg)
			}
			if f := r.scanRawText(s.val, cc.seg); f != nil {
				return f
			}
			if r.mode.Has(guard.ModeStrict) {
				// env -S has its own quoting and escape rules; strict mode
				// does not trust a re-split command line.
				return r.block(guard.RuleDynamicScript, "env -S splits a string into a command line, which strict mode does not verify; write the command directly.", cc.seg)
			}
			splits++
			if splits > 8 {
				return &finding{rule: guard.RuleEngineDepth, segment: cc.seg, reason: "env -S nests too deeply to be analysed safely."}
			}
			words, ok := splitEnvString(s.val)
			if !ok {
				return r.scanRawText(s.val, cc.seg)
			}
			rest := append(append(append([]field(nil), args[:i]...), words...), args[i+width:]...)
			args = rest
		case strings.HasPrefix(v, "-") && len(v) > 1:
			i++
		default:
			if name, val, ok := splitAssignment(a); ok {
				n.env = append(n.env, envAssign{name: name, val: val})
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
	n.args = args[i:]
	n.external = true
	return r.analyzeCall(n)
}

// splitEnvString splits an env -S argument into words the way env does:
// blanks separate, quotes group, backslash escapes.
func splitEnvString(s string) ([]field, bool) {
	var out []field
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
				out = append(out, lit(b.String()))
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
		out = append(out, lit(b.String()))
	}
	return out, true
}

// peelWatch: watch runs its arguments joined by spaces through sh -c, unless -x.
func (r *run) peelWatch(cc *cmdCall) *finding {
	args := cc.args
	i := 1
	execMode := false
	for i < len(args) {
		a := args[i].val
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
	if execMode || len(args)-i == 1 && args[i].static && !strings.ContainsAny(args[i].val, " \t;|&") {
		n := cc.with(args[i:])
		n.external = true
		return r.analyzeCall(n)
	}
	if f := r.judgeCode(cc, joinFields(args[i:], " "), "watch"); f != nil {
		return f
	}
	// watch joins its arguments for sh -c, which re-splits quoted scripts;
	// the argv reading catches what a differently built watch would run.
	n := cc.with(args[i:])
	n.external = true
	return r.analyzeCall(n)
}

// peelFlock: flock [options] file|dir command [args], or flock -c command.
func (r *run) peelFlock(cc *cmdCall) *finding {
	args := cc.args
	for i := 1; i < len(args); i++ {
		if (args[i].val == "-c" || args[i].val == "--command") && i+1 < len(args) {
			return r.judgeCode(cc, args[i+1], "flock -c")
		}
	}
	i := skipOptions(args, 1, flockOpts)
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
func (r *run) peelSu(cc *cmdCall) *finding {
	args := cc.args
	for i := 1; i < len(args); i++ {
		a := args[i].val
		switch {
		case (a == "-c" || a == "--command" || a == "--session-command") && i+1 < len(args):
			return r.judgeCode(cc, args[i+1], "su -c")
		case strings.HasPrefix(a, "--command="):
			f := args[i]
			f.val = a[len("--command="):]
			return r.judgeCode(cc, f, "su -c")
		}
	}
	// runuser -u user -- cmd args
	for i := 1; i < len(args); i++ {
		if args[i].val == "--" && i+1 < len(args) {
			n := cc.with(args[i+1:])
			n.external = true
			n.cwd = ""
			return r.analyzeCall(n)
		}
	}
	return nil
}

// peelSSH judges the remote command of ssh as shell code: it runs elsewhere,
// but a destructive command stays destructive.
func (r *run) peelSSH(cc *cmdCall) *finding {
	args := cc.args
	i := 1
	for i < len(args) {
		a := args[i].val
		if a == "--" {
			i++
			break
		}
		if !strings.HasPrefix(a, "-") || len(a) < 2 {
			break
		}
		if len(a) == 2 && strings.IndexByte(sshOpts.shortWithValue, a[1]) >= 0 {
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
	n.cwd = ""
	return r.judgeCode(n, joinFields(args[i:], " "), "ssh")
}
