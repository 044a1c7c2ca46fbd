package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
)

// modifyingCommands change or remove their file operands.
var modifyingCommands = set("rm", "rmdir", "unlink", "mv", "cp", "tee", "truncate", "shred", "ln", "install", "rsync",
	"chmod", "chown", "chgrp", "touch", "sed", "perl", "dd", "git")

// protectCheck keeps the agent from modifying, moving or deleting protected
// files (typically the guard's own rule files).
func (r *run) protectCheck(cc *cmdCall, base string) *finding {
	if len(r.protected) == 0 || !modifyingCommands[base] {
		return nil
	}
	args := cc.args
	switch base {
	case "sed", "perl":
		inPlace := false
		for _, a := range args[1:] {
			if strings.HasPrefix(a.val, "-i") || a.val == "--in-place" || strings.HasPrefix(a.val, "-pi") {
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
			if strings.HasPrefix(a.val, "of=") {
				f := a
				f.val = a.val[3:]
				if fnd := r.protectedWrite(cc.cwd, f, cc.seg); fnd != nil {
					return fnd
				}
			}
		}
		return nil
	}
	ancestorToo := base == "rm" || base == "rmdir" || base == "mv" || base == "rsync"
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a.static && (a.val == "-t" || a.val == "--target-directory") {
			i++
			continue
		}
		if strings.HasPrefix(a.val, "-") {
			continue
		}
		if hit := r.protectedHit(cc.cwd, a, ancestorToo); hit != "" {
			return r.block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", cc.seg)
		}
	}
	return nil
}

// protectedWrite blocks a write redirection to a protected file.
func (r *run) protectedWrite(cwd string, target field, seg string) *finding {
	if len(r.protected) == 0 {
		return nil
	}
	if hit := r.protectedHit(cwd, target, false); hit != "" {
		return r.block(guard.RuleProtectedPath, reasonProtected+" ("+hit+")", seg)
	}
	return nil
}

// protectedHit returns the protected path target names or (when ancestor is
// true) contains.
func (r *run) protectedHit(cwd string, target field, ancestor bool) string {
	if !target.static {
		return ""
	}
	p := target.val
	if !filepath.IsAbs(p) {
		if cwd == "" {
			return ""
		}
		p = filepath.Join(cwd, p)
	}
	p = filepath.Clean(p)
	rp := r.realPath(p)
	for _, prot := range r.protected {
		rprot := r.realPath(prot)
		if p == prot || rp == rprot {
			return prot
		}
		if ancestor && (strictlyWithin(prot, p) || strictlyWithin(rprot, rp)) {
			return prot
		}
	}
	return ""
}
