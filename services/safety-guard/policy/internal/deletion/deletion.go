// Package deletion holds the rule family of commands that delete files or
// wipe disks: rm, rmdir and unlink (classified by target: root and home,
// git metadata, the working directory, temp directories, allow paths),
// find -delete and find -exec rm, shred, dd to a device and mkfs.
package deletion

import (
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Context is what the deletion rules need of the walker.
type Context interface {
	family.Verdicts
	family.Places
	// ChargeDerived reserves n words of command lines judged again (the
	// rest of a find line after each -exec); false once the budget is
	// spent, and Aborted says why.
	ChargeDerived(n int, segment string) bool
	// Aborted is the finding that stopped the analysis (a budget), if any.
	Aborted() *family.Finding
	// Exec judges a command the command runs (find -exec) like any other.
	Exec(c family.Call) *family.Finding
	// NoteWrite records a file the command writes (find -fprint).
	NoteWrite(cwd string, target family.Field, content *string)
}

// Judge applies the rules of the command c runs (rm, rmdir, unlink, find,
// dd, mkfs, mke2fs, newfs, shred); other commands pass.
func Judge(ctx Context, c *family.Call) *family.Finding {
	base := family.CommandBase(c.Args[0].Val)
	switch {
	case base == "rm" || base == "rmdir" || base == "unlink":
		return judgeRm(ctx, c, rmNormal)
	case base == "find":
		return judgeFind(ctx, c)
	case base == "dd":
		return judgeDd(ctx, c)
	case strings.HasPrefix(base, "mkfs") || base == "mke2fs" || base == "newfs":
		return judgeMkfs(ctx, c)
	case base == "shred":
		if len(c.Args) > 1 {
			return ctx.Block(guard.RuleShred, "shred destroys file contents irrecoverably. Ask the user to run it manually.", c.Seg)
		}
	}
	return nil
}

// judgeDd blocks dd writing to a device.
func judgeDd(ctx Context, c *family.Call) *family.Finding {
	for _, a := range c.Args[1:] {
		if strings.HasPrefix(a.Val, "of=") {
			target := strings.Trim(a.Val[3:], `"'`)
			if strings.HasPrefix(target, "/dev/") && !IsHarmlessDevice(target) {
				return ctx.Block(guard.RuleDdDevice, "dd writing to a device ("+target+") can destroy a disk. Ask the user to run it manually.", c.Seg)
			}
			if !a.Static && a.Input {
				return family.CarrierDynamic(ctx, c, "dd writes to a target from the input")
			}
		}
	}
	return nil
}

// IsHarmlessDevice reports the devices writing to which destroys nothing.
func IsHarmlessDevice(p string) bool {
	switch p {
	case "/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/fd/1", "/dev/fd/2":
		return true
	}
	return false
}

// judgeMkfs blocks mkfs on a device.
func judgeMkfs(ctx Context, c *family.Call) *family.Finding {
	for _, a := range c.Args[1:] {
		if strings.HasPrefix(a.Val, "/dev/") {
			return ctx.Block(guard.RuleMkfsDevice, "mkfs formats a device ("+a.Val+") and destroys its data. Ask the user to run it manually.", c.Seg)
		}
	}
	return nil
}

// carrierRm blocks rm -rf whose targets come from a carrier's input.
func carrierRm(ctx Context, c *family.Call) *family.Finding {
	if c.Carrier == "parallel" {
		return ctx.Block(guard.RuleParallelRmDynamic, reasonParallelRm, c.Seg)
	}
	return ctx.Block(guard.RuleXargsRmDynamic, reasonXargsRm, c.Seg)
}

// RawRm returns "rm -rf" when words (an rm command line in text the engine
// could not parse) remove recursively and by force.
func RawRm(words []string) string {
	rec, force := false, false
	for _, w := range words[1:] {
		if w == "--" {
			break
		}
		switch {
		case strings.HasPrefix(w, "--"):
			name, _, _ := strings.Cut(w, "=")
			if len(name) >= 4 && strings.HasPrefix("--recursive", name) {
				rec = true
			}
			if len(name) >= 3 && strings.HasPrefix("--force", name) {
				force = true
			}
		case strings.HasPrefix(w, "-") && len(w) > 1:
			if strings.ContainsAny(w[1:], "rR") {
				rec = true
			}
			if strings.Contains(w[1:], "f") {
				force = true
			}
		}
	}
	if rec && force {
		return "rm -rf"
	}
	return ""
}

// RawFind returns what a find command line in raw text deletes, if anything.
func RawFind(words []string) string {
	fields := make([]family.Field, len(words))
	for i, w := range words {
		fields[i] = family.Lit(w)
	}
	fc := parseFind(fields)
	if fc.delete {
		return "find -delete"
	}
	for _, ex := range fc.execs {
		if len(ex) > 0 && family.CommandBase(ex[0].Val) == "rm" && RawRm(family.Vals(ex)) != "" {
			return "find -exec rm -rf"
		}
	}
	return ""
}
