package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

const reasonProtected = "This path contains a protected policy file; the agent may not modify, move or delete it."

// modifyingCommands change or remove their file operands.
var modifyingCommands = family.NameSet("rm", "rmdir", "unlink", "mv", "cp", "tee", "truncate", "shred", "ln", "install", "rsync",
	"chmod", "chown", "chgrp", "touch", "sed", "perl", "dd", "git")

// protectCheck keeps the agent from modifying, moving or deleting protected
// files (typically the guard's own rule files).
func (r *run) protectCheck(cc *cmdCall, base string) *family.Finding {
	if len(r.protected) == 0 || !modifyingCommands[base] {
		return nil
	}
	args := cc.Args
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
				if fnd := r.protectedWrite(cc.Cwd, f, cc.Seg); fnd != nil {
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
		if hit := r.protectedHit(cc.Cwd, a, ancestorToo); hit != "" {
			return r.Block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", cc.Seg)
		}
	}
	return nil
}

// protectedWrite blocks a write redirection to a protected file.
func (r *run) protectedWrite(cwd string, target family.Field, seg string) *family.Finding {
	if len(r.protected) == 0 {
		return nil
	}
	if hit := r.protectedHit(cwd, target, false); hit != "" {
		return r.Block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", seg)
	}
	return nil
}

// protectedHit returns the protected path target names or (when ancestor is
// true) contains.
func (r *run) protectedHit(cwd string, target family.Field, ancestor bool) string {
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
	rp := r.RealPath(p)
	for _, prot := range r.protected {
		rprot := r.RealPath(prot)
		if p == prot || rp == rprot {
			return prot
		}
		if ancestor && (family.StrictlyWithin(prot, p) || family.StrictlyWithin(rprot, rp)) {
			return prot
		}
	}
	return ""
}
