package powershell

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Context is what the PowerShell rules need of the walker.
type Context interface {
	family.Verdicts
	family.Places
	// Step charges one unit of work; false once a budget is spent, and
	// Aborted says why.
	Step(segment string) bool
	Aborted() *family.Finding
	// MaxDepth bounds how deeply code handed to shells may nest.
	MaxDepth() int
	// BothShells reports whether the request is read as bash and as
	// PowerShell: PowerShell that does not parse then blocks.
	BothShells() bool
	// JudgeArgv judges a command PowerShell runs with the POSIX rules (git,
	// rm -rf, ...), as a command of its own in a fresh shell state at depth.
	JudgeArgv(args []family.Field, depth int, segment string) *family.Finding
}

// Judge judges a PowerShell command line nested depth levels deep in code
// handed to shells.
func Judge(ctx Context, src string, depth int) *family.Finding {
	if !ctx.Step(src) {
		return ctx.Aborted()
	}
	if depth >= ctx.MaxDepth() {
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	}
	toks, perr := Lex(src)
	switch perr {
	case "depth":
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	case "":
	default:
		if ctx.Mode().Has(guard.ModeStrict) || ctx.BothShells() {
			return &family.Finding{Rule: guard.RuleEngineUnparsable, Segment: src, Reason: family.ReasonStrictUnparsable}
		}
	}
	var cmd []Token
	pipedInput := false
	flush := func(next string) *family.Finding {
		defer func() { cmd = nil }()
		if len(cmd) == 0 {
			return nil
		}
		f := command(ctx, src, cmd, pipedInput, depth)
		pipedInput = next == "|"
		return f
	}
	for _, t := range toks {
		if t.Op == "call" {
			continue
		}
		if t.Op != "" {
			if f := flush(t.Op); f != nil {
				return f
			}
			continue
		}
		cmd = append(cmd, t)
	}
	return flush("")
}

// command judges one PowerShell command.
func command(ctx Context, src string, cmd []Token, piped bool, depth int) *family.Finding {
	for _, t := range cmd {
		for _, s := range t.Sub {
			if f := Judge(ctx, s, depth+1); f != nil {
				return f
			}
		}
	}
	head := cmd[0]
	if head.Block != "" && head.Text == "" {
		return Judge(ctx, head.Block, depth+1)
	}
	if !head.Static {
		if ctx.Mode().Has(guard.ModeStrict) {
			return ctx.Block(guard.RuleDynamicCommandName, "The PowerShell command name is not static; write it literally.", src)
		}
		return nil
	}
	name := strings.ToLower(head.Text)
	args := cmd[1:]
	switch name {
	case "remove-item", "ri", "rm", "del", "erase", "rd", "rmdir":
		texts := make([]string, len(args))
		fields := make([]family.Field, len(args))
		for i, a := range args {
			texts[i] = a.Text
			fields[i] = family.Field{Val: a.Text, Static: a.Static, Src: a.Text}
		}
		return removeItem(ctx, src, texts, fields, piped)
	case "iex", "invoke-expression":
		for i := 0; i < len(args); i++ {
			a := args[i]
			if strings.HasPrefix(strings.ToLower(a.Text), "-command") || strings.HasPrefix(strings.ToLower(a.Text), "-c") && !a.Quoted {
				continue
			}
			if !a.Static {
				return ctx.Block(guard.RuleDynamicScript, "Invoke-Expression runs code the engine cannot see; shell execution source cannot be verified.", src)
			}
			return Judge(ctx, a.Text, depth+1)
		}
		return nil
	case "invoke-command", "icm":
		for _, a := range args {
			if a.Block != "" {
				if f := Judge(ctx, a.Block, depth+1); f != nil {
					return f
				}
			}
		}
		return nil
	}
	// Anything else: judge it with the POSIX rules (git, rm -rf, ...).
	fields := make([]family.Field, 0, len(cmd))
	for _, t := range cmd {
		if t.Block != "" && t.Text == "" {
			if f := Judge(ctx, t.Block, depth+1); f != nil {
				return f
			}
			continue
		}
		fields = append(fields, family.Field{Val: t.Text, Static: t.Static, Src: t.Text})
	}
	if len(fields) == 0 {
		return nil
	}
	return ctx.JudgeArgv(fields, depth, src)
}

// removeItem judges Remove-Item and its aliases.
func removeItem(ctx Context, src string, texts []string, args []family.Field, piped bool) *family.Finding {
	recurse, force, whatif, missingPath := false, false, false, false
	var targets []family.Field
	past := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		t := texts[i]
		if !past && strings.HasPrefix(t, "-") {
			// -WhatIf (alias -wi), possibly -WhatIf:$value: only a literal
			// $false turns the dry run off.
			name, v, _ := strings.Cut(strings.ToLower(t[1:]), ":")
			if name == "wi" || (len(name) >= 2 && strings.HasPrefix("whatif", name)) {
				whatif = v != "$false" && v != "0"
				continue
			}
		}
		if past || !strings.HasPrefix(t, "-") || !a.Static {
			targets = append(targets, SplitList(a)...)
			continue
		}
		if t == "--" {
			past = true
			continue
		}
		if ok, _ := Param(t, "recurse", 1); ok {
			recurse = true
			continue
		}
		if ok, _ := Param(t, "force", 2); ok {
			force = true
			continue
		}
		if ok, v := Param(t, "whatif", 2); ok {
			whatif = v != "$false"
			continue
		}
		if ok, v := Param(t, "path", 1); ok || strings.HasPrefix(strings.ToLower(t), "-literalpath") || strings.HasPrefix(strings.ToLower(t), "-lp") {
			if v != "" || strings.Contains(t, ":") {
				_, after, _ := strings.Cut(t, ":")
				targets = append(targets, SplitList(family.Field{Val: after, Static: a.Static})...)
				continue
			}
			if i+1 < len(args) {
				targets = append(targets, SplitList(args[i+1])...)
				i++
			} else {
				missingPath = true
			}
			continue
		}
		for _, name := range []string{"-filter", "-include", "-exclude", "-credential", "-stream"} {
			if strings.HasPrefix(strings.ToLower(t), name) && !strings.Contains(t, ":") {
				i++
				break
			}
		}
		// Unix-style flags (rm -rf) on the rm alias: judge like POSIX rm.
		if strings.Contains(t[1:], "r") && strings.Contains(t[1:], "f") && !strings.Contains(t, ":") {
			recurse, force = true, true
		}
	}
	if whatif {
		return nil
	}
	for _, t := range targets {
		if f := gitMetadata(ctx, t, force, recurse, src); f != nil {
			return f
		}
		if rootOrHome(ctx, t) {
			if recurse && force {
				return ctx.Block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
			}
			return ctx.Block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
		}
	}
	if !recurse || !force {
		if piped && len(targets) == 0 && (ctx.Mode().Has(guard.ModeStrict) || ctx.Switched(guard.RulePSPipeline)) {
			return ctx.Block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
		}
		return nil
	}
	if missingPath && len(targets) == 0 {
		// PowerShell would prompt for the path; strict mode does not guess.
		return ctx.Block(guard.RulePSDynamicTarget, "PowerShell Remove-Item has no literal target (missing -Path value); it cannot be verified safely.", src)
	}
	if len(targets) == 0 && piped {
		return ctx.Block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
	}
	for _, t := range targets {
		if f := classify(ctx, t, src); f != nil {
			return f
		}
	}
	return nil
}

func rootOrHome(ctx Context, t family.Field) bool {
	v := strings.ToLower(Normalize(strings.TrimSpace(t.Val)))
	for _, h := range []string{"$home", "$env:userprofile", "$env:home", "${home}", "~"} {
		if v == h || v == h+"/" || v == h+"/*" {
			return true
		}
	}
	if v == "/" || v == "/*" || (len(v) >= 2 && len(v) <= 4 && v[1] == ':' && strings.Trim(v[2:], "/*") == "") {
		return true
	}
	if !t.Static {
		return false
	}
	f := family.Field{Val: Normalize(t.Val), Static: true}
	return deletion.IsRootOrHome(ctx, ctx.StartDir(), f)
}

func gitMetadata(ctx Context, t family.Field, force, recurse bool, src string) *family.Finding {
	if !t.Static || ctx.StartDir() == "" {
		return nil
	}
	v := Normalize(t.Val)
	abs := v
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(ctx.StartDir(), abs)
	}
	if family.HasGlobMeta(filepath.Base(abs)) && force {
		// -Force includes hidden items, so * matches .git.
		dir := ctx.RealPath(filepath.Dir(abs))
		protected, _ := ctx.GitMetadata(ctx.StartDir())
		for _, p := range protected {
			if filepath.Dir(p) == dir {
				if ok, _ := filepath.Match(filepath.Base(abs), filepath.Base(p)); ok {
					return ctx.Block(guard.RulePSGitMetadata, deletion.ReasonGitMetadata, src)
				}
			}
		}
	}
	if deletion.TouchesGitMetadata(ctx, ctx.StartDir(), abs, v, family.HasGlobMeta(v), recurse) {
		return ctx.Block(guard.RulePSGitMetadata, deletion.ReasonGitMetadata, src)
	}
	return nil
}

func classify(ctx Context, t family.Field, src string) *family.Finding {
	if !t.Static {
		return ctx.Block(guard.RulePSDynamicTarget, "PowerShell Remove-Item -Recurse -Force target cannot be resolved statically ("+t.Val+"); write the path literally.", src)
	}
	v := Normalize(t.Val)
	if ctx.IsTempPath(v) {
		return nil
	}
	abs := v
	if !filepath.IsAbs(abs) {
		if ctx.StartDir() == "" {
			return ctx.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
		}
		abs = filepath.Join(ctx.StartDir(), abs)
	}
	resolved := deletion.ResolveTarget(ctx, abs, v)
	for _, ap := range ctx.AllowPaths() {
		if deletion.UsableAllowPath(ctx, ap) && family.Within(resolved, ctx.RealPath(ap)) {
			return nil
		}
	}
	if ctx.StartDir() == "" {
		return ctx.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
	}
	anchor := ctx.RealPath(ctx.StartDir())
	if ctx.Home() != "" && anchor == ctx.RealPath(ctx.Home()) {
		return ctx.Block(guard.RulePSHomeCwd, "PowerShell Remove-Item -Recurse -Force in the home directory is dangerous. Change to a project directory first.", src)
	}
	if v == "." || v == "./" || resolved == anchor {
		return ctx.Block(guard.RulePSCwdSelf, "PowerShell Remove-Item -Recurse -Force of the current directory is blocked.", src)
	}
	if family.StrictlyWithin(resolved, anchor) {
		if ctx.Mode().Has(guard.ModeParanoidRm) || ctx.Switched(guard.RulePSParanoid) {
			return ctx.Block(guard.RulePSParanoid, "PowerShell Remove-Item -Recurse -Force is blocked in paranoid rm mode.", src)
		}
		return nil
	}
	return ctx.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
}

// RemoveItem judges Remove-Item written in a POSIX command line.
func RemoveItem(ctx Context, c *family.Call) *family.Finding {
	args := c.Args[1:]
	return removeItem(ctx, c.Seg, family.Vals(args), args, c.Stdin != nil && c.Stdin.Kind == family.StdinPipe)
}

// Launcher judges pwsh/powershell -Command and -EncodedCommand in a command
// nested depth levels deep in code handed to shells.
func Launcher(ctx Context, c *family.Call, depth int) *family.Finding {
	args := c.Args
	for i := 1; i < len(args); i++ {
		a := strings.ToLower(args[i].Val)
		switch {
		case a == "-command" || a == "-c" || a == "/c":
			rest := family.JoinFields(args[i+1:], " ")
			if !rest.Static {
				return ctx.Block(guard.RuleDynamicScript, "pwsh -Command runs code the engine cannot see.", c.Seg)
			}
			return Judge(ctx, rest.Val, depth+1)
		case a == "-encodedcommand" || a == "-enc" || a == "-e" || a == "-ec":
			if i+1 >= len(args) || !args[i+1].Static {
				return ctx.Block(guard.RuleDynamicScript, "pwsh -EncodedCommand runs code the engine cannot see.", c.Seg)
			}
			code, ok := DecodeEncodedCommand(args[i+1].Val)
			if !ok {
				return ctx.Block(guard.RuleDynamicScript, "pwsh -EncodedCommand carries code the engine cannot decode.", c.Seg)
			}
			return Judge(ctx, code, depth+1)
		case a == "-file" || a == "-f":
			return nil
		}
	}
	return nil
}
