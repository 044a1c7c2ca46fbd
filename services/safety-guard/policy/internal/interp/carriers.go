package interp

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

var xargsWithValue = family.NameSet("-a", "--arg-file", "-d", "--delimiter", "-E", "-I", "-L", "-n", "--max-args", "-P", "--max-procs", "-s", "--max-chars", "--process-slot-var", "-R", "-S", "-J")

// judgeXargs judges xargs: its command gets arguments from the input.
func judgeXargs(ctx Context, c *family.Call) *family.Finding {
	args := c.Args
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
	n := *c
	n.Args = carrierArgs(args[i:], repl)
	n.Carrier = "xargs"
	n.Stdin = nil
	n.InputValues = producerWords(c.Stdin)
	return ctx.Exec(n)
}

// carrierArgs builds the child command line of a carrier: placeholders
// become input fields; without a placeholder the input is appended.
func carrierArgs(child []family.Field, repl string) []family.Field {
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

// ParallelWork is an amount of parallel expansion work.
type ParallelWork struct {
	Children, Tokens, Bytes, Replacements int
}

// ParallelBudget is the parallel expansion work one check has done, shared
// by all its parallel commands (siblings and nested ones).
type ParallelBudget struct {
	done ParallelWork
}

// Reserve charges w to the budget; past it, nothing is charged and the
// finding says why the command is blocked.
func (b *ParallelBudget) Reserve(w ParallelWork, segment string) *family.Finding {
	over := func(cur, add, limit int) bool { return add < 0 || add > limit-cur }
	if over(b.done.Children, w.Children, maxParallelChildren) || over(b.done.Tokens, w.Tokens, maxParallelTokens) ||
		over(b.done.Bytes, w.Bytes, maxParallelBytes) || over(b.done.Replacements, w.Replacements, maxParallelReplacements) {
		return &family.Finding{Rule: guard.RuleEngineBudget, Segment: segment,
			Reason: "Parallel command expands beyond the safety guard's analysis limits; reduce the template or the explicit argument list."}
	}
	b.done.Children += w.Children
	b.done.Tokens += w.Tokens
	b.done.Bytes += w.Bytes
	b.done.Replacements += w.Replacements
	return nil
}

// judgeParallel judges GNU parallel: with ::: arguments the jobs are known
// and each expanded command is judged; without, arguments come from stdin.
func judgeParallel(ctx Context, c *family.Call, base string) *family.Finding {
	args := c.Args
	if base == "sem" {
		i := family.SkipOptions(args, 1, family.OptSpec{WithValue: parallelWithValue, ShortWithValue: "jPnNLdsE"})
		if i >= len(args) {
			return nil
		}
		n := *c
		n.Args = args[i:]
		return ctx.Exec(n)
	}
	if v, ok := commandEnvValue(ctx, c, "PARALLEL"); ok && (!v.Static || strings.TrimSpace(v.Val) != "") {
		// With the rule switched off the other rules still judge the jobs.
		if f := ctx.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported+" (PARALLEL is set)", c.Seg); f != nil {
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
		if f := ctx.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported, c.Seg); f != nil {
			return f
		}
	}
	stdinMode := len(groups) == 0 || fromFile
	if len(template) == 0 && stdinMode {
		return ctx.Block(guard.RuleParallelCommandStream, reasonParallelStream, c.Seg)
	}
	if pipe {
		if f := ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg); f != nil {
			return f
		}
	}
	if dryRun {
		return nil
	}
	child := *c
	child.Args, child.Stdin = nil, nil
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
				if f := ctx.Block(guard.RuleParallelCommandStream, reasonParallelUnsupported, c.Seg); f != nil {
					return f
				}
			}
			w := ParallelWork{Children: len(g), Tokens: len(g)}
			for _, line := range g {
				w.Bytes += len(line.Val)
			}
			if !ctx.ReserveParallel(w, c.Seg) {
				return ctx.Aborted()
			}
			for _, line := range g {
				if f := ctx.JudgeCode(child, line, "parallel"); f != nil {
					return f
				}
				if f := ctx.Aborted(); f != nil {
					return f
				}
			}
		}
		return nil
	}
	if f := parallelShellTemplate(ctx, c, template, stdinMode); f != nil {
		return f
	}
	if stdinMode {
		child.Carrier = "parallel"
		child.Args = parallelStdinArgs(template)
		return ctx.Exec(child)
	}
	jobs, ok := parallelJobs(ctx, c, template, groups)
	if !ok {
		return ctx.Aborted()
	}
	if len(jobs) == 0 {
		child.Args = template
		return ctx.Exec(child)
	}
	for _, job := range jobs {
		n := *c
		n.Args, n.Stdin, n.Cwd = expandParallelTemplate(template, job), nil, child.Cwd
		if f := ctx.Exec(n); f != nil {
			return f
		}
		if f := ctx.Aborted(); f != nil {
			return f
		}
	}
	return nil
}

// parallelJobs reserves the work of expanding template over the cartesian
// product of the ::: groups and returns the jobs; false means the budget is
// spent (ctx.Aborted says so).
func parallelJobs(ctx Context, c *family.Call, template []family.Field, groups [][]family.Field) ([][]family.Field, bool) {
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
		w := ParallelWork{Children: 1, Tokens: len(template)}
		for _, t := range template {
			w.Bytes += len(t.Val)
		}
		return nil, ctx.ReserveParallel(w, c.Seg)
	}
	if n > maxParallelChildren {
		return nil, ctx.ReserveParallel(ParallelWork{Children: n}, c.Seg)
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
	w := ParallelWork{Children: len(jobs)}
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
			w.Tokens += len(template) + len(j)
			w.Bytes += tbytes
			for _, v := range j {
				w.Bytes += len(v.Val)
			}
		}
		return jobs, ctx.ReserveParallel(w, c.Seg)
	}
	w.Tokens = len(template) * len(jobs)
	w.Replacements = occurrences * len(jobs)
	if w.Tokens > maxParallelTokens || w.Replacements > maxParallelReplacements {
		return nil, ctx.ReserveParallel(w, c.Seg)
	}
	for _, j := range jobs {
		for _, a := range expandParallelTemplate(template, j) {
			w.Bytes += len(a.Val)
		}
		if w.Bytes > maxParallelBytes {
			break
		}
	}
	return jobs, ctx.ReserveParallel(w, c.Seg)
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
func commandEnvValue(ctx Context, c *family.Call, name string) (family.Field, bool) {
	if v, ok := c.EnvValue(name); ok {
		return v, true
	}
	if v, ok := c.Shell.Vars()[name]; ok && v.Exported {
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
func parallelShellTemplate(ctx Context, c *family.Call, template []family.Field, stdinMode bool) *family.Finding {
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
			return ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg)
		}
	}
	argv := template[head:]
	sa := parseShellArgs(argv)
	if !sa.command {
		for _, a := range argv[1:] {
			if parallelPlaceholderRe(a.Val) {
				return ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg)
			}
		}
		return nil
	}
	if len(sa.operands) == 0 {
		return ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg)
	}
	script := sa.operands[0]
	if strings.TrimSpace(script.Val) == "{}" || (strings.HasPrefix(script.Val, "{") && strings.HasSuffix(script.Val, "}") && parallelPlaceholderRe(script.Val) && !strings.Contains(script.Val, " ")) {
		if stdinMode {
			return ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg)
		}
	}
	for _, a := range argv[1:] {
		if a.Val == script.Val && a.Static == script.Static {
			continue
		}
		if parallelPlaceholderRe(a.Val) {
			return ctx.Block(guard.RuleParallelShellDynamic, reasonParallelShell, c.Seg)
		}
	}
	return nil
}

// parallelStdinArgs builds the template for stdin mode: placeholders become
// input (quoted by parallel, so an input word rather than code), or the input
// is appended.
func parallelStdinArgs(template []family.Field) []family.Field {
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
