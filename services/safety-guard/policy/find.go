package policy

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
)

// findValueArgs are find primaries that consume one argument.
var findValueArgs = set("-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-type", "-xtype", "-user", "-group",
	"-perm", "-size", "-mtime", "-ctime", "-atime", "-mmin", "-cmin", "-amin", "-newer", "-anewer", "-cnewer", "-printf",
	"-fprint", "-fprint0", "-fls", "-maxdepth", "-mindepth", "-inum", "-samefile", "-gid", "-uid", "-links", "-lname",
	"-ilname", "-wholename", "-iwholename", "-used", "-context", "-fstype", "-files0-from", "-regextype", "-iregextype")

// findCall is a parsed find command line.
type findCall struct {
	roots   []field
	follow  bool // -L, -follow: symlinks are followed
	bsdRoot bool // -f path: BSD root syntax
	delete  bool
	execs   [][]field
	execAt  []int // index of each -exec primary in the arguments
	dynamic *field
	writes  []field // -fprint and friends
}

func parseFind(args []field) findCall {
	var fc findCall
	i := 1
	// Leading options.
	for i < len(args) {
		v := args[i].val
		switch {
		case v == "-H" || v == "-P" || v == "-E" || v == "-X" || v == "-d" || v == "-s" || v == "-x" || strings.HasPrefix(v, "-O"):
			i++
			continue
		case v == "-L":
			fc.follow = true
			i++
			continue
		case v == "-D":
			i += 2
			continue
		case v == "-f" && i+1 < len(args):
			fc.bsdRoot = true
			fc.roots = append(fc.roots, args[i+1])
			i += 2
			continue
		}
		break
	}
	for i < len(args) {
		v := args[i].val
		if args[i].static && (strings.HasPrefix(v, "-") && v != "-" || v == "(" || v == "!" || v == ",") {
			break
		}
		if !args[i].static && strings.HasPrefix(v, "-") {
			break
		}
		if args[i].input && couldBeOption(args[i]) {
			// Carrier input in root position may just as well be a primary
			// such as -delete.
			aa := args[i]
			fc.dynamic = &aa
			i++
			continue
		}
		fc.roots = append(fc.roots, args[i])
		i++
	}
	if len(fc.roots) == 0 {
		fc.roots = []field{lit(".")}
	}
	for i < len(args) {
		a := args[i]
		v := a.val
		if !a.static {
			if fc.dynamic == nil {
				aa := a
				fc.dynamic = &aa
			}
			i++
			continue
		}
		switch {
		case v == "-exec" || v == "-execdir" || v == "-ok" || v == "-okdir":
			j := i + 1
			var cmd []field
			for j < len(args) && !(args[j].static && (args[j].val == ";" || args[j].val == "+")) {
				cmd = append(cmd, args[j])
				j++
			}
			fc.execs = append(fc.execs, cmd)
			fc.execAt = append(fc.execAt, i)
			i = j + 1
		case v == "-delete":
			fc.delete = true
			i++
		case v == "-follow":
			fc.follow = true
			i++
		case v == "-fprintf":
			fc.writes = append(fc.writes, argAt(args, i+1))
			i += 3
		case v == "-fprint" || v == "-fprint0" || v == "-fls":
			fc.writes = append(fc.writes, argAt(args, i+1))
			i += 2
		case findValueArgs[v] || strings.HasPrefix(v, "-newer"):
			i += 2
		default:
			i++
		}
	}
	return fc
}

func argAt(args []field, i int) field {
	if i < len(args) {
		return args[i]
	}
	return field{}
}

// placeholderField is {} in find -exec: a file name the engine cannot know.
func placeholderField(src string) field {
	return field{val: src, src: src}
}

// analyzeFind applies the find rules.
func (r *run) analyzeFind(cc *cmdCall, args []field) *finding {
	fc := parseFind(args)
	if fc.dynamic == nil {
		for i := range args[1:] {
			if args[1+i].subst {
				// Computed substitution output still decides find's
				// structure; strict mode wants it literal.
				if f := r.dynStructure(cc, "a find argument is built from a substitution"); f != nil {
					return f
				}
				break
			}
		}
	}
	if fc.dynamic != nil {
		if fc.dynamic.input {
			return r.carrierDynamic(cc, "the input adds find primaries")
		}
		if f := r.dynStructure(cc, "a find primary is built from a substitution"); f != nil {
			return f
		}
	}
	deletesFound := fc.delete
	for _, ex := range fc.execs {
		if len(ex) == 0 {
			continue
		}
		if execDeletesFound(ex) {
			deletesFound = true
		}
	}
	if deletesFound {
		for _, root := range fc.roots {
			if r.isRootOrHome(cc, root) {
				return r.block(guard.RuleRmRootOrHome, reasonRmRootHome, cc.seg)
			}
			if root.static {
				abs := root.val
				if !filepath.IsAbs(abs) && cc.cwd != "" {
					abs = filepath.Join(cc.cwd, abs)
				}
				if filepath.IsAbs(abs) && r.findReachesGitMetadata(cc.cwd, abs) {
					return r.block(guard.RuleFindGitMetadata, reasonFindGitMeta, cc.seg)
				}
			}
		}
	}
	for k, ex := range fc.execs {
		if !r.chargeDerived(len(args)-fc.execAt[k]-1, cc.seg) {
			return r.abort
		}
		if len(ex) == 0 {
			continue
		}
		exArgs := make([]field, len(ex))
		for i, a := range ex {
			if a.static && strings.Contains(a.val, "{}") {
				exArgs[i] = placeholderField(a.val)
				exArgs[i].input = cc.carrier != "" && a.input
			} else {
				exArgs[i] = a
			}
		}
		n := cc.with(exArgs)
		n.external = true
		n.stdin = nil
		if f := r.analyzeFindExec(n); f != nil {
			return f
		}
		if r.abort != nil {
			return r.abort
		}
	}
	if fc.delete {
		if f := r.findDeleteRoots(cc, fc); f != nil {
			return f
		}
	}
	for _, w := range fc.writes {
		r.noteWrite(cc, w, nil)
	}
	return nil
}

// execDeletesFound reports whether a -exec command removes the files find
// hands it.
func execDeletesFound(ex []field) bool {
	i := 0
	for i < len(ex) {
		switch commandBase(ex[i].val) {
		case "sudo", "env", "command", "busybox", "nice", "nohup":
			i++
			for i < len(ex) && (strings.HasPrefix(ex[i].val, "-") || strings.Contains(ex[i].val, "=")) {
				i++
			}
			continue
		}
		break
	}
	if i >= len(ex) || commandBase(ex[i].val) != "rm" {
		return false
	}
	for _, a := range ex[i+1:] {
		if strings.Contains(a.val, "{}") {
			return true
		}
	}
	return false
}

// analyzeFindExec judges a -exec command; rm there runs on found files.
func (r *run) analyzeFindExec(cc *cmdCall) *finding {
	args := cc.args
	i := 0
	for i < len(args) {
		b := commandBase(args[i].val)
		if b == "sudo" || b == "env" || b == "command" || b == "busybox" || b == "nice" || b == "nohup" {
			i++
			for i < len(args) && args[i].static && (strings.HasPrefix(args[i].val, "-") || strings.Contains(args[i].val, "=")) {
				i++
			}
			continue
		}
		break
	}
	if i < len(args) && args[i].static && commandBase(args[i].val) == "rm" {
		n := cc.with(args[i:])
		return r.analyzeRm(n, n.args, rmFindExec)
	}
	return r.analyzeCall(cc)
}

// findReachesGitMetadata reports whether a recursive delete starting at root
// reaches the git metadata of the repository around cwd or root.
func (r *run) findReachesGitMetadata(cwd, root string) bool {
	rr := r.realPath(root)
	for _, d := range []string{cwd, rr} {
		protected, _ := r.gitProtected(d)
		for _, p := range protected {
			if within(p, rr) {
				return true
			}
		}
	}
	return false
}

// findDeleteRoots allows find -delete only below a temp directory or an
// allow path, without following symlinks, and never on the working directory
// or its parents.
func (r *run) findDeleteRoots(cc *cmdCall, fc findCall) *finding {
	block := func() *finding { return r.block(guard.RuleFindDelete, reasonFindDelete, cc.seg) }
	if fc.follow || fc.bsdRoot {
		return block()
	}
	for _, root := range fc.roots {
		if !root.static || root.ifsSplit || root.glob || hasDotDot(root.val) || !filepath.IsAbs(root.val) {
			return block()
		}
		p := filepath.Clean(root.val)
		rp := r.realPath(p)
		if cc.cwd != "" && within(r.realPath(cc.cwd), rp) {
			return block()
		}
		if r.origCwd != "" && within(r.realPath(r.origCwd), rp) {
			return block()
		}
		ok := false
		for _, t := range r.tempRoots() {
			if p == filepath.Clean(t) || rp == r.realPath(t) {
				// A temp root itself (including $TMPDIR) holds other
				// programs' files, so it is never a disposable tree.
				return block()
			}
		}
		for _, t := range r.tempRoots() {
			if strictlyWithin(p, t) && strictlyWithin(rp, r.realPath(t)) || strictlyWithin(p, t) && rp == p {
				ok = true
			}
		}
		for _, ap := range r.allowPaths {
			if r.usableAllowPath(ap) && within(rp, r.realPath(ap)) {
				ok = true
			}
		}
		if !ok {
			return block()
		}
	}
	return nil
}
