package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/powershell"
)

// judgePowerShell judges a PowerShell command line.
func (r *run) judgePowerShell(src string, depth int) *family.Finding {
	if !r.Step(src) {
		return r.abort
	}
	if depth >= r.eng.maxDepth {
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	}
	toks, perr := powershell.Lex(src)
	switch perr {
	case "depth":
		return &family.Finding{Rule: guard.RuleEngineDepth, Segment: src, Reason: "Command exceeds maximum recursion depth and cannot be safely analyzed."}
	case "":
	default:
		if r.mode.Has(guard.ModeStrict) || r.req.Shell == ShellAuto {
			return &family.Finding{Rule: guard.RuleEngineUnparsable, Segment: src, Reason: reasonStrictUnparsable}
		}
	}
	var cmd []powershell.Token
	pipedInput := false
	flush := func(next string) *family.Finding {
		defer func() { cmd = nil }()
		if len(cmd) == 0 {
			return nil
		}
		f := r.psCommand(src, cmd, pipedInput, depth)
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

// psCommand judges one PowerShell command.
func (r *run) psCommand(src string, cmd []powershell.Token, piped bool, depth int) *family.Finding {
	for _, t := range cmd {
		for _, s := range t.Sub {
			if f := r.judgePowerShell(s, depth+1); f != nil {
				return f
			}
		}
	}
	head := cmd[0]
	if head.Block != "" && head.Text == "" {
		return r.judgePowerShell(head.Block, depth+1)
	}
	if !head.Static {
		if r.mode.Has(guard.ModeStrict) {
			return r.Block(guard.RuleDynamicCommandName, "The PowerShell command name is not static; write it literally.", src)
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
		return r.psRemoveItem(src, texts, fields, piped)
	case "iex", "invoke-expression":
		for i := 0; i < len(args); i++ {
			a := args[i]
			if strings.HasPrefix(strings.ToLower(a.Text), "-command") || strings.HasPrefix(strings.ToLower(a.Text), "-c") && !a.Quoted {
				continue
			}
			if !a.Static {
				return r.Block(guard.RuleDynamicScript, "Invoke-Expression runs code the engine cannot see; shell execution source cannot be verified.", src)
			}
			return r.judgePowerShell(a.Text, depth+1)
		}
		return nil
	case "invoke-command", "icm":
		for _, a := range args {
			if a.Block != "" {
				if f := r.judgePowerShell(a.Block, depth+1); f != nil {
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
			if f := r.judgePowerShell(t.Block, depth+1); f != nil {
				return f
			}
			continue
		}
		fields = append(fields, family.Field{Val: t.Text, Static: t.Static, Src: t.Text})
	}
	if len(fields) == 0 {
		return nil
	}
	sc := r.rootScope()
	sc.depth = depth
	cc := &cmdCall{Call: family.Call{Args: fields, Cwd: r.origCwd, Seg: src}, r: r, sc: sc}
	return r.analyzeCall(cc)
}

// psRemoveItem judges Remove-Item and its aliases.
func (r *run) psRemoveItem(src string, texts []string, args []family.Field, piped bool) *family.Finding {
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
			targets = append(targets, powershell.SplitList(a)...)
			continue
		}
		if t == "--" {
			past = true
			continue
		}
		if ok, _ := powershell.Param(t, "recurse", 1); ok {
			recurse = true
			continue
		}
		if ok, _ := powershell.Param(t, "force", 2); ok {
			force = true
			continue
		}
		if ok, v := powershell.Param(t, "whatif", 2); ok {
			whatif = v != "$false"
			continue
		}
		if ok, v := powershell.Param(t, "path", 1); ok || strings.HasPrefix(strings.ToLower(t), "-literalpath") || strings.HasPrefix(strings.ToLower(t), "-lp") {
			if v != "" || strings.Contains(t, ":") {
				_, after, _ := strings.Cut(t, ":")
				targets = append(targets, powershell.SplitList(family.Field{Val: after, Static: a.Static})...)
				continue
			}
			if i+1 < len(args) {
				targets = append(targets, powershell.SplitList(args[i+1])...)
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
		if f := r.psGitMetadata(t, force, recurse, src); f != nil {
			return f
		}
		if r.psRootOrHome(t) {
			if recurse && force {
				return r.Block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
			}
			return r.Block(guard.RulePSRootOrHome, "PowerShell Remove-Item targeting root or home directory is extremely dangerous and always blocked.", src)
		}
	}
	if !recurse || !force {
		if piped && len(targets) == 0 && (r.mode.Has(guard.ModeStrict) || r.req.Policy.RuleSwitches[guard.RulePSPipeline]) {
			return r.Block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
		}
		return nil
	}
	if missingPath && len(targets) == 0 {
		// PowerShell would prompt for the path; strict mode does not guess.
		return r.Block(guard.RulePSDynamicTarget, "PowerShell Remove-Item has no literal target (missing -Path value); it cannot be verified safely.", src)
	}
	if len(targets) == 0 && piped {
		return r.Block(guard.RulePSPipeline, "PowerShell Remove-Item deletes pipeline input the engine cannot see (strict mode).", src)
	}
	for _, t := range targets {
		if f := r.psClassify(t, src); f != nil {
			return f
		}
	}
	return nil
}

func (r *run) psRootOrHome(t family.Field) bool {
	v := strings.ToLower(powershell.Normalize(strings.TrimSpace(t.Val)))
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
	f := family.Field{Val: powershell.Normalize(t.Val), Static: true}
	return deletion.IsRootOrHome(r, r.origCwd, f)
}

func (r *run) psGitMetadata(t family.Field, force, recurse bool, src string) *family.Finding {
	if !t.Static || r.origCwd == "" {
		return nil
	}
	v := powershell.Normalize(t.Val)
	abs := v
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(r.origCwd, abs)
	}
	if family.HasGlobMeta(filepath.Base(abs)) && force {
		// -Force includes hidden items, so * matches .git.
		dir := r.RealPath(filepath.Dir(abs))
		protected, _ := r.GitMetadata(r.origCwd)
		for _, p := range protected {
			if filepath.Dir(p) == dir {
				if ok, _ := filepath.Match(filepath.Base(abs), filepath.Base(p)); ok {
					return r.Block(guard.RulePSGitMetadata, deletion.ReasonGitMetadata, src)
				}
			}
		}
	}
	if deletion.TouchesGitMetadata(r, r.origCwd, abs, v, family.HasGlobMeta(v), recurse) {
		return r.Block(guard.RulePSGitMetadata, deletion.ReasonGitMetadata, src)
	}
	return nil
}

func (r *run) psClassify(t family.Field, src string) *family.Finding {
	if !t.Static {
		return r.Block(guard.RulePSDynamicTarget, "PowerShell Remove-Item -Recurse -Force target cannot be resolved statically ("+t.Val+"); write the path literally.", src)
	}
	v := powershell.Normalize(t.Val)
	if r.IsTempPath(v) {
		return nil
	}
	abs := v
	if !filepath.IsAbs(abs) {
		if r.origCwd == "" {
			return r.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
		}
		abs = filepath.Join(r.origCwd, abs)
	}
	resolved := deletion.ResolveTarget(r, abs, v)
	for _, ap := range r.allowPaths {
		if deletion.UsableAllowPath(r, ap) && family.Within(resolved, r.RealPath(ap)) {
			return nil
		}
	}
	if r.origCwd == "" {
		return r.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
	}
	anchor := r.RealPath(r.origCwd)
	if r.home != "" && anchor == r.RealPath(r.home) {
		return r.Block(guard.RulePSHomeCwd, "PowerShell Remove-Item -Recurse -Force in the home directory is dangerous. Change to a project directory first.", src)
	}
	if v == "." || v == "./" || resolved == anchor {
		return r.Block(guard.RulePSCwdSelf, "PowerShell Remove-Item -Recurse -Force of the current directory is blocked.", src)
	}
	if family.StrictlyWithin(resolved, anchor) {
		if r.mode.Has(guard.ModeParanoidRm) || r.req.Policy.RuleSwitches[guard.RulePSParanoid] {
			return r.Block(guard.RulePSParanoid, "PowerShell Remove-Item -Recurse -Force is blocked in paranoid rm mode.", src)
		}
		return nil
	}
	return r.Block(guard.RulePSOutsideCwd, "PowerShell Remove-Item -Recurse -Force outside cwd is blocked.", src)
}

// psRemoveItemArgs judges Remove-Item written in a POSIX command line.
func (r *run) psRemoveItemArgs(cc *cmdCall, texts []string, args []family.Field, piped bool) *family.Finding {
	return r.psRemoveItem(cc.Seg, texts, args, piped)
}

// analyzePwshLauncher judges pwsh/powershell -Command and -EncodedCommand.
func (r *run) analyzePwshLauncher(cc *cmdCall) *family.Finding {
	args := cc.Args
	for i := 1; i < len(args); i++ {
		a := strings.ToLower(args[i].Val)
		switch {
		case a == "-command" || a == "-c" || a == "/c":
			rest := family.JoinFields(args[i+1:], " ")
			if !rest.Static {
				return r.Block(guard.RuleDynamicScript, "pwsh -Command runs code the engine cannot see.", cc.Seg)
			}
			return r.judgePowerShell(rest.Val, cc.sc.depth+1)
		case a == "-encodedcommand" || a == "-enc" || a == "-e" || a == "-ec":
			if i+1 >= len(args) || !args[i+1].Static {
				return r.Block(guard.RuleDynamicScript, "pwsh -EncodedCommand runs code the engine cannot see.", cc.Seg)
			}
			code, ok := powershell.DecodeEncodedCommand(args[i+1].Val)
			if !ok {
				return r.Block(guard.RuleDynamicScript, "pwsh -EncodedCommand carries code the engine cannot decode.", cc.Seg)
			}
			return r.judgePowerShell(code, cc.sc.depth+1)
		case a == "-file" || a == "-f":
			return nil
		}
	}
	return nil
}
