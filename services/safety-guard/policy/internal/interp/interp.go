// Package interp holds the rule family of programs that run code the
// walker reads again, and of carriers that build command lines from their
// input: shells (-c, a script on stdin, a script the command wrote, startup
// files), interpreters (python -c, node -e, ...: their code read as shell,
// the commands their exec-style calls run, the files they delete), awk
// (system(), pipes, getline), and xargs and GNU parallel (the commands they
// run, with what comes from their input marked as such).
package interp

import (
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/secrets"
)

// Context is what these rules need of the walker: to decide, the files the
// command wrote, the secret rules (for the paths in code), and the walker
// itself for the code and commands they hand on.
type Context interface {
	secrets.Context
	// WrittenFile returns what the command wrote to path earlier (relative
	// to cwd), and whether the engine knows the content.
	WrittenFile(cwd, path string) (content string, known, ok bool)
	// Exec judges a command c runs (what xargs or parallel run).
	Exec(c family.Call) *family.Finding
	// JudgeCode judges shell code c hands over as one string (a parallel
	// job), in a shell with c's environment.
	JudgeCode(c family.Call, code family.Field, origin string) *family.Finding
	// JudgeShell judges the script a shell c starts runs, set up as sh says.
	JudgeShell(c family.Call, code string, sh Shell) *family.Finding
	// JudgeInherited judges shell code a program c starts runs (a startup
	// file, a command in interpreter or awk code): it sees the exported
	// shell state, in c's directory.
	JudgeInherited(c family.Call, code string) *family.Finding
	// JudgeCodeAsShell reads interpreter code as shell, in case a shell
	// command was handed to the wrong program.
	JudgeCodeAsShell(c family.Call, code string) *family.Finding
	// ReserveParallel charges parallel expansion work; false once the budget
	// is spent, and Aborted says why.
	ReserveParallel(w ParallelWork, segment string) bool
}

// Shell is how a shell the command starts is set up.
type Shell struct {
	// Args are $1, $2, ...; a last argument that is appended carrier input
	// means more follow from the input.
	Args []family.Field
	// Dollar0 is $0 when the command names it.
	Dollar0 *family.Field
	// Login shells start in the home directory.
	Login bool
}

// Judge applies the rules of the shell, awk or interpreter c runs; other
// commands pass.
func Judge(ctx Context, c *family.Call) *family.Finding {
	base := family.CommandBase(c.Args[0].Val)
	switch {
	case family.IsShell(base):
		return judgeShell(ctx, c, base)
	case family.IsAwk(base):
		return judgeAwk(ctx, c, base)
	}
	kind := family.InterpreterKind(base)
	if kind == "" {
		return nil
	}
	if f := judgeInterpreter(ctx, c, base, kind); f != nil || c.Carrier == "" {
		return f
	}
	return carrierInterpreterOptions(ctx, c, kind)
}

// ReadsProgramOnStdin reports whether the program c runs (a shell, or an
// interpreter given no code) reads its program on stdin: then what it reads
// is code these rules judged, not data.
func ReadsProgramOnStdin(c *family.Call) bool {
	base := family.CommandBase(c.Args[0].Val)
	if family.IsShell(base) {
		return true
	}
	kind := family.InterpreterKind(base)
	if kind == "" {
		return false
	}
	ia := parseInterpreter(kind, c.Args)
	return ia.stdin && len(ia.code) == 0
}

// JudgeCarrier judges xargs, parallel and sem: the commands they run.
func JudgeCarrier(ctx Context, c *family.Call) *family.Finding {
	if base := family.CommandBase(c.Args[0].Val); base != "xargs" {
		return judgeParallel(ctx, c, base)
	}
	return judgeXargs(ctx, c)
}

// carrierInterpreterOptions blocks input appended after inline code of
// interpreters that keep parsing options there (node -e CODE --require x).
func carrierInterpreterOptions(ctx Context, c *family.Call, kind string) *family.Finding {
	if kind == "python" {
		return nil
	}
	ia := parseInterpreter(kind, c.Args)
	if len(ia.code) == 0 && ia.script != nil {
		return nil
	}
	for i, a := range c.Args {
		if a.Static && a.Val == "--" {
			return nil
		}
		if i > 0 && family.IsAppendedInput(a) {
			return family.CarrierDynamic(ctx, c, "the input may add "+kind+" options after the code")
		}
	}
	return nil
}
