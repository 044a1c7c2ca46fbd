// Package protect holds the protected-path rule: the files a policy
// protects (the guard's own rule files among them) may not be modified,
// moved or deleted, nor their directories deleted or moved.
package protect

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// Context is what the protected-path rule needs of the walker.
type Context interface {
	family.Verdicts
	// RealPath resolves the symlinks in p as far as it exists.
	RealPath(p string) string
	// Protected are the policy's protected files, made absolute.
	Protected() []string
}

const reasonProtected = "This path contains a protected policy file; the agent may not modify, move or delete it."

// modifyingCommands change or remove their file operands.
var modifyingCommands = family.NameSet("rm", "rmdir", "unlink", "mv", "cp", "tee", "truncate", "shred", "ln", "install", "rsync",
	"chmod", "chown", "chgrp", "touch", "sed", "perl", "dd", "git")

// Judge keeps the agent from modifying, moving or deleting protected files
// (typically the guard's own rule files) with the command c runs.
func Judge(ctx Context, c *family.Call) *family.Finding {
	if len(ctx.Protected()) == 0 {
		return nil
	}
	args := c.Args
	base := family.CommandBase(args[0].Val)
	if !modifyingCommands[base] {
		return nil
	}
	switch base {
	case "sed", "perl":
		inPlace := false
		for _, a := range args[1:] {
			if strings.HasPrefix(a.Val, "-i") || a.Val == "--in-place" || strings.HasPrefix(a.Val, "-pi") {
				inPlace = true
			}
		}
		if !inPlace {
			return nil
		}
	case "git":
		return nil
	case "dd":
		for _, a := range args[1:] {
			if strings.HasPrefix(a.Val, "of=") {
				f := a
				f.Val = a.Val[3:]
				if fnd := Write(ctx, c.Cwd, f, c.Seg); fnd != nil {
					return fnd
				}
			}
		}
		return nil
	}
	ancestorToo := base == "rm" || base == "rmdir" || base == "mv" || base == "rsync"
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a.Static && (a.Val == "-t" || a.Val == "--target-directory") {
			i++
			continue
		}
		if strings.HasPrefix(a.Val, "-") {
			continue
		}
		if hit := protectedHit(ctx, c.Cwd, a, ancestorToo); hit != "" {
			return ctx.Block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", c.Seg)
		}
	}
	return nil
}

// Write blocks a write redirection to a protected file.
func Write(ctx Context, cwd string, target family.Field, seg string) *family.Finding {
	if len(ctx.Protected()) == 0 {
		return nil
	}
	if hit := protectedHit(ctx, cwd, target, false); hit != "" {
		return ctx.Block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", seg)
	}
	return nil
}

// protectedHit returns the protected path target names or (when ancestor is
// true) contains.
func protectedHit(ctx Context, cwd string, target family.Field, ancestor bool) string {
	if !target.Static {
		return ""
	}
	p := target.Val
	if !filepath.IsAbs(p) {
		if cwd == "" {
			return ""
		}
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	rp := ctx.RealPath(p)
	for _, prot := range ctx.Protected() {
		rprot := ctx.RealPath(prot)
		if p == prot || rp == rprot {
			return prot
		}
		if ancestor && (family.StrictlyWithin(prot, p) || family.StrictlyWithin(rprot, rp)) {
			return prot
		}
	}
	return ""
}
