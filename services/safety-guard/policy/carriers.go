package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

var xargsWithValue = family.NameSet("-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var", "-R", "-S", "-J")

// analyzeXargs judges xargs: its command gets arguments from the input.
func (r *run) analyzeXargs(cc *cmdCall) *family.Finding {
	args := cc.Args
	repl := ""
	i := 1
	for i < len(args) {
		v := args[i].Val
		if !args[i].Static {
			break
		}
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") || v == "-" {
			break
		}
		switch {
		case v == "-I" || v == "-J":
			if i+1 < len(args) {
				repl = args[i+1].Val
			}
			i += 2
			continue
		case strings.HasPrefix(v, "-I") || strings.HasPrefix(v, "-J"):
			repl = v[2:]
		case v == "-i" || v == "--replace":
			repl = "{}"
		case strings.HasPrefix(v, "-i"):
			repl = v[2:]
		case strings.HasPrefix(v, "--replace="):
			repl = v[len("--replace="):]
			if repl == "" {
				repl = "{}"
			}
		case xargsWithValue[v]:
			i += 2
			continue
		}
		i++
	}
	if i >= len(args) {
		return nil // xargs runs echo
	}
	child := args[i:]
	n := cc.with(r.carrierArgs(child, repl))
	n.Carrier = "xargs"
	n.external = true
	n.Stdin = nil
	n.InputValues = producerWords(cc.Stdin)
	return r.analyzeCall(n)
}

// carrierArgs builds the child command line of a carrier: placeholders
// become input fields; without a placeholder the input is appended.
func (r *run) carrierArgs(child []family.Field, repl string) []family.Field {
	out := make([]family.Field, 0, len(child)+1)
	replaced := false
	for _, a := range child {
		if repl != "" && a.Static && strings.Contains(a.Val, repl) {
			out = append(out, family.InputField(a.Val, repl, false))
			replaced = true
			continue
		}
		out = append(out, a)
	}
	if !replaced {
		// Without a placeholder in the command the input is appended; with -I
		// and no placeholder xargs drops it, but judging it as appended is the
		// safe reading.
		out = append(out, family.InputField("", "", true))
	}
	return out
}

func producerWords(in *family.Stdin) []string {
	if in == nil || !in.Known {
		return nil
	}
	return strings.Fields(in.Text)
}

// parallel option tables.
var (
	parallelWithValue = family.NameSet("-L", "-l", "-d", "-n", "-N", "-j", "-P", "-s", "-E", "--delay", "--delimiter", "--header", "--joblog", "--jl",
		"--max-args", "--max-lines", "--nice", "--results", "--result", "--res", "--tagstring", "--timeout", "--jobs", "--max-procs",
		"--max-chars", "--memfree", "--load", "--retries", "--sshdelay", "--tmpdir", "--basefile", "--bf", "--return", "--transfer-file",
		"--tf", "--termseq", "--halt", "--limit", "--semaphorename", "--id", "--shebang-wrap", "--tmux", "--cleanup", "--ctag")
	parallelUnsupported = family.NameSet("-a", "--arg-file", "--colsep", "-C", "--rpl", "--arg-sep", "--arg-file-sep", "-I", "--replace", "-i", "--env", "--plus", "--shebang")
	parallelRemote      = family.NameSet("-S", "--sshlogin", "--slf", "--sshloginfile")
)

const reasonParallelShell = "parallel with shell -c can execute arbitrary commands from dynamic input. Use explicit commands instead."
const reasonParallelStream = "parallel without a command reads executable commands from dynamic input. Use an explicit command template or ::: arguments instead."
const reasonParallelUnsupported = "parallel command construction cannot be verified safely. Use the default ::: separator, literal arguments, and built-in replacement strings."

// Parallel expansion budgets, shared by all parallel commands of one Check
// (siblings and nested ones). Expanding ::: arguments multiplies work, so it
// is reserved before any child is analysed. The figures are upstream's, which
// keeps the corpus' budget cases deciding alike.
const (
	maxParallelChildren     = 1024
	maxParallelTokens       = 16384
	maxParallelBytes        = 1 << 20
	maxParallelReplacements = 16384
)

// parallelWork is an amount of parallel expansion work.
type parallelWork struct {
	children, tokens, bytes, replacements int
}

// reserveParallel charges w to the run's parallel budget and reports whether
// analysis may go on; past the budget r.abort blocks the command.
func (r *run) reserveParallel(w parallelWork, segment string) bool {
	if r.abort != nil {
		return false
	}
	b := &r.parallel
	over := func(cur, add, limit int) bool { return add < 0 || add > limit-cur }
	if over(b.children, w.children, maxParallelChildren) || over(b.tokens, w.tokens, maxParallelTokens) ||
		over(b.bytes, w.bytes, maxParallelBytes) || over(b.replacements, w.replacements, maxParallelReplacements) {
		r.abort = &family.Finding{Rule: guard.RuleEngineBudget, Segment: segment,
			Reason: "Parallel command expands beyond the safety guard's analysis limits; reduce the template or the explicit argument list."}
		return false
	}
	b.children += w.children
	b.tokens += w.tokens
	b.bytes += w.bytes
	b.replacements += w.replacements
	return true
}

// analyzeParallel judges GNU parallel: with ::: arguments the jobs are known
// and each expanded command is judged; without, arguments come from stdin.
func (r *run) analyzeParallel(cc *cmdCall, base string) *family.Finding {
	args := cc.Args
	if base == "sem" {
		i := skipOptions(args, 1, optSpec{withValue: parallelWithValue, shortWithValue: "jPnNLdsE"})
		if i >= len(args) {
			return nil
		}
		n := cc.with(args[i:])
		n.external = true
		return r.analyzeCall(n)
	}
	if v, ok := r.commandEnvValue(cc, "PARALLEL"); ok && (!v.Static || strings.TrimSpace(v.Val) != "") {
		// With the rule switched off the other rules still judge the jobs.
		if f := r.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported+" (PARALLEL is set)", cc.Seg); f != nil {
			return f
		}
	}
	if len(args) == 2 && args[1].Static && (args[1].Val == "--version" || args[1].Val == "--help") {
		return nil
	}
	var template []family.Field
	var groups [][]family.Field
	dryRun, remote, pipe, unsupported, fromFile := false, false, false, false, false
	workdir := ""
	hasWorkdir := false
	i := 1
	// Options.
	for i < len(args) {
		a := args[i]
		v := a.Val
		if !a.Static {
			break
		}
		if v == ":::" || v == "::::" || v == ":::+" || v == "::::+" {
			break
		}
		if v == "--" {
			i++
			break
		}
		if !strings.HasPrefix(v, "-") || v == "-" {
			break
		}
		name, _, hasEq := strings.Cut(v, "=")
		switch {
		case name == "--dry-run" || name == "--dryrun":
			dryRun = true
		case name == "--pipe" || name == "--pipepart" || name == "--spreadstdin":
			pipe = true
		case parallelRemote[name]:
			remote = true
			if !hasEq {
				i++
			}
		case strings.HasPrefix(v, "-S") && len(v) > 2:
			remote = true
		case name == "--workdir" || name == "--wd":
			hasWorkdir = true
			if hasEq {
				_, workdir, _ = strings.Cut(v, "=")
			} else if i+1 < len(args) {
				workdir = args[i+1].Val
				i++
			}
		case parallelUnsupported[name]:
			unsupported = true
			if !hasEq && name != "--plus" && name != "-i" {
				i++
			}
		case parallelWithValue[name] && !hasEq:
			i++
		}
		i++
	}
	for i < len(args) {
		a := args[i]
		if a.Static && (a.Val == ":::" || a.Val == "::::" || a.Val == ":::+" || a.Val == "::::+") {
			break
		}
		template = append(template, a)
		i++
	}
	for i < len(args) {
		sep := args[i].Val
		i++
		var g []family.Field
		for i < len(args) && !(args[i].Static && (args[i].Val == ":::" || args[i].Val == "::::" || args[i].Val == ":::+" || args[i].Val == "::::+")) {
			g = append(g, args[i])
			i++
		}
		if strings.HasPrefix(sep, "::::") {
			fromFile = true
			continue
		}
		groups = append(groups, g)
	}
	for _, t := range template {
		if strings.Contains(t.Val, "{=") || strings.Contains(t.Val, "=}") {
			unsupported = true
		}
	}
	if unsupported || (hasWorkdir && remote) {
		if f := r.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported, cc.Seg); f != nil {
			return f
		}
	}
	stdinMode := len(groups) == 0 || fromFile
	if len(template) == 0 && stdinMode {
		return r.Block(guard.RuleParallelCommandStream, reasonParallelStream, cc.Seg)
	}
	if pipe {
		if f := r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg); f != nil {
			return f
		}
	}
	if dryRun {
		return nil
	}
	child := cc.with(nil)
	child.external = true
	child.Stdin = nil
	if remote {
		child.Cwd = ""
	}
	if hasWorkdir {
		child.Cwd = family.ResolveDir(child.Cwd, family.Lit(workdir))
	}
	if len(template) == 0 {
		// Commands mode: each argument is a command line.
		for _, g := range groups {
			if len(groups) > 1 {
				if f := r.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported, cc.Seg); f != nil {
					return f
				}
			}
			w := parallelWork{children: len(g), tokens: len(g)}
			for _, c := range g {
				w.bytes += len(c.Val)
			}
			if !r.reserveParallel(w, cc.Seg) {
				return r.abort
			}
			for _, c := range g {
				if f := r.judgeCode(child, c, "parallel"); f != nil {
					return f
				}
				if r.abort != nil {
					return r.abort
				}
			}
		}
		return nil
	}
	if f := r.parallelShellTemplate(cc, template, stdinMode); f != nil {
		return f
	}
	if stdinMode {
		child.Carrier = "parallel"
		child.Args = r.parallelStdinArgs(template)
		return r.analyzeCall(child)
	}
	jobs, ok := r.parallelJobs(cc, template, groups)
	if !ok {
		return r.abort
	}
	if len(jobs) == 0 {
		child.Args = template
		return r.analyzeCall(child)
	}
	for _, job := range jobs {
		argv := expandParallelTemplate(template, job)
		c := cc.with(argv)
		c.external, c.Stdin, c.Cwd = true, nil, child.Cwd
		if f := r.analyzeCall(c); f != nil {
			return f
		}
		if r.abort != nil {
			return r.abort
		}
	}
	return nil
}

// parallelJobs reserves the work of expanding template over the cartesian
// product of the ::: groups and returns the jobs; false means the budget is
// spent (r.abort is set).
func (r *run) parallelJobs(cc *cmdCall, template []family.Field, groups [][]family.Field) ([][]family.Field, bool) {
	n := 1
	for _, g := range groups {
		if len(g) == 0 {
			n = 0
			break
		}
		if n > maxParallelChildren/len(g)+1 {
			n = maxParallelChildren + 1
			break
		}
		n *= len(g)
	}
	if n == 0 {
		// No job runs; the template is still judged once.
		w := parallelWork{children: 1, tokens: len(template)}
		for _, t := range template {
			w.bytes += len(t.Val)
		}
		return nil, r.reserveParallel(w, cc.Seg)
	}
	if n > maxParallelChildren {
		return nil, r.reserveParallel(parallelWork{children: n}, cc.Seg)
	}
	jobs := [][]family.Field{{}}
	for _, g := range groups {
		next := make([][]family.Field, 0, len(jobs)*len(g))
		for _, j := range jobs {
			for _, v := range g {
				next = append(next, append(append([]family.Field(nil), j...), v))
			}
		}
		jobs = next
	}
	w := parallelWork{children: len(jobs)}
	occurrences, tbytes := 0, 0
	for _, t := range template {
		tbytes += len(t.Val)
		if t.Static {
			occurrences += countPlaceholders(t.Val)
		}
	}
	if occurrences == 0 {
		// The job's arguments are appended to the template.
		for _, j := range jobs {
			w.tokens += len(template) + len(j)
			w.bytes += tbytes
			for _, v := range j {
				w.bytes += len(v.Val)
			}
		}
		return jobs, r.reserveParallel(w, cc.Seg)
	}
	w.tokens = len(template) * len(jobs)
	w.replacements = occurrences * len(jobs)
	if w.tokens > maxParallelTokens || w.replacements > maxParallelReplacements {
		return nil, r.reserveParallel(w, cc.Seg)
	}
	for _, j := range jobs {
		for _, a := range expandParallelTemplate(template, j) {
			w.bytes += len(a.Val)
		}
		if w.bytes > maxParallelBytes {
			break
		}
	}
	return jobs, r.reserveParallel(w, cc.Seg)
}

// countPlaceholders counts the replacement strings ({}, {1}, {.}, ...) in s.
func countPlaceholders(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			continue
		}
		if j := strings.IndexByte(s[i:], '}'); j > 0 && !strings.ContainsAny(s[i+1:i+j], " \t{") {
			n++
			i += j
		}
	}
	return n
}

// commandEnvValue returns a variable as the command would see it in its
// environment: its own assignments first, then exported variables.
func (r *run) commandEnvValue(cc *cmdCall, name string) (family.Field, bool) {
	if v, ok := cc.EnvValue(name); ok {
		return v, true
	}
	if v, ok := cc.sc.vars[name]; ok && v.Exported {
		if !v.Known {
			return family.Field{Val: "$" + name}, true
		}
		if !v.Set {
			return family.Field{}, false
		}
		return family.Field{Val: v.Val, Static: true}, true
	}
	return family.Field{}, false
}

var parallelPlaceholderRe = func() func(string) bool {
	return func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] != '{' {
				continue
			}
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return false
			}
			inner := s[i+1 : i+j]
			if !strings.ContainsAny(inner, " \t{") {
				return true
			}
		}
		return false
	}
}()

// parallelShellTemplate applies the shell-specific parallel rules: the
// script of sh -c must be in the template, and placeholders may only appear
// inside it.
func (r *run) parallelShellTemplate(cc *cmdCall, template []family.Field, stdinMode bool) *family.Finding {
	head := 0
	for head < len(template) && template[head].Static {
		b := family.CommandBase(template[head].Val)
		if b == "env" || b == "sudo" || b == "command" || b == "nice" || b == "nohup" || b == "busybox" {
			head++
			for head < len(template) && template[head].Static && (strings.HasPrefix(template[head].Val, "-") || strings.Contains(template[head].Val, "=")) {
				head++
			}
			continue
		}
		break
	}
	if head >= len(template) || !family.IsShell(family.CommandBase(template[head].Val)) {
		return nil
	}
	for _, a := range template[:head] {
		// A placeholder in a wrapper's argument, such as env FOO='echo {}',
		// hands input to the shell through its environment.
		if parallelPlaceholderRe(a.Val) {
			return r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg)
		}
	}
	argv := template[head:]
	sa := parseShellArgs(argv)
	if !sa.command {
		for _, a := range argv[1:] {
			if parallelPlaceholderRe(a.Val) {
				return r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg)
			}
		}
		return nil
	}
	if len(sa.operands) == 0 {
		return r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg)
	}
	script := sa.operands[0]
	if strings.TrimSpace(script.Val) == "{}" || (strings.HasPrefix(script.Val, "{") && strings.HasSuffix(script.Val, "}") && parallelPlaceholderRe(script.Val) && !strings.Contains(script.Val, " ")) {
		if stdinMode {
			return r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg)
		}
	}
	for _, a := range argv[1:] {
		if a.Val == script.Val && a.Static == script.Static {
			continue
		}
		if parallelPlaceholderRe(a.Val) {
			return r.Block(guard.RuleParallelShellDynamic, reasonParallelShell, cc.Seg)
		}
	}
	return nil
}

// parallelStdinArgs builds the template for stdin mode: placeholders become
// input (quoted by parallel, so an input word rather than code), or the input
// is appended.
func (r *run) parallelStdinArgs(template []family.Field) []family.Field {
	out := make([]family.Field, 0, len(template)+1)
	has := false
	shellScript := -1
	if len(template) > 0 && family.IsShell(family.CommandBase(template[0].Val)) {
		sa := parseShellArgs(template)
		if sa.command && len(sa.operands) > 0 {
			shellScript = len(template) - len(sa.operands)
		}
	}
	for i, a := range template {
		if !parallelPlaceholderRe(a.Val) || !a.Static {
			out = append(out, a)
			continue
		}
		has = true
		if i == shellScript {
			// parallel quotes the replacement: inside the script it is one word.
			f := a
			f.Val = replacePlaceholders(a.Val, `"$PARALLEL_INPUT"`)
			out = append(out, f)
			continue
		}
		out = append(out, family.InputField(a.Val, placeholderMark(a.Val), false))
	}
	if !has {
		out = append(out, family.InputField("", "", true))
	}
	return out
}

func placeholderMark(s string) string {
	i := strings.IndexByte(s, '{')
	j := strings.IndexByte(s[i:], '}')
	if i < 0 || j < 0 {
		return s
	}
	return s[i : i+j+1]
}

func replacePlaceholders(s, with string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '{' {
			if j := strings.IndexByte(s[i:], '}'); j > 0 && !strings.ContainsAny(s[i+1:i+j], " \t{") {
				b.WriteString(with)
				i += j
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// expandParallelTemplate substitutes one job into the template.
func expandParallelTemplate(template []family.Field, job []family.Field) []family.Field {
	out := make([]family.Field, 0, len(template)+len(job))
	has := false
	for _, a := range template {
		if !a.Static || !parallelPlaceholderRe(a.Val) {
			out = append(out, a)
			continue
		}
		has = true
		f := a
		f.Val = expandPlaceholders(a.Val, job)
		f.Static = true
		for _, j := range job {
			f.Static = f.Static && j.Static
		}
		out = append(out, f)
	}
	if !has {
		out = append(out, job...)
	}
	return out
}

func expandPlaceholders(s string, job []family.Field) string {
	all := make([]string, len(job))
	for i, j := range job {
		all[i] = j.Val
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '{' {
			b.WriteByte(s[i])
			continue
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 || strings.ContainsAny(s[i+1:i+j], " \t{") {
			b.WriteByte(s[i])
			continue
		}
		inner := s[i+1 : i+j]
		val := strings.Join(all, " ")
		k := 0
		for k < len(inner) && inner[k] >= '0' && inner[k] <= '9' {
			k++
		}
		if k > 0 {
			n := 0
			for _, c := range inner[:k] {
				n = n*10 + int(c-'0')
			}
			if n >= 1 && n <= len(all) {
				val = all[n-1]
			} else {
				val = ""
			}
			inner = inner[k:]
		}
		switch inner {
		case "", "}":
		case ".":
			val = strings.TrimSuffix(val, filepath.Ext(val))
		case "/":
			val = filepath.Base(val)
		case "//":
			val = filepath.Dir(val)
		case "/.":
			val = strings.TrimSuffix(filepath.Base(val), filepath.Ext(val))
		case "#", "%":
			val = "1"
		}
		b.WriteString(val)
		i += j
	}
	return b.String()
}
