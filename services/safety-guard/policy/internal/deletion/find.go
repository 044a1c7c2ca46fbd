package deletion

import (
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
)

// findValueArgs are find primaries that consume one argument.
var findValueArgs = family.NameSet("-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-type", "-xtype", "-user", "-group",
	"-perm", "-size", "-mtime", "-ctime", "-atime", "-mmin", "-cmin", "-amin", "-newer", "-anewer", "-cnewer", "-printf",
	"-fprint", "-fprint0", "-fls", "-maxdepth", "-mindepth", "-inum", "-samefile", "-gid", "-uid", "-links", "-lname",
	"-ilname", "-wholename", "-iwholename", "-used", "-context", "-fstype", "-files0-from", "-regextype", "-iregextype")

// findCall is a parsed find command line.
type findCall struct {
	roots   []family.Field
	follow  bool // -L, -follow: symlinks are followed
	bsdRoot bool // -f path: BSD root syntax
	delete  bool
	execs   [][]family.Field
	execAt  []int // index of each -exec primary in the arguments
	dynamic *family.Field
	writes  []family.Field // -fprint and friends
}

func parseFind(args []family.Field) findCall {
	var fc findCall
	i := 1
	// Leading options.
	for i < len(args) {
		v := args[i].Val
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
		v := args[i].Val
		if args[i].Static && (strings.HasPrefix(v, "-") && v != "-" || v == "(" || v == "!" || v == ",") {
			break
		}
		if !args[i].Static && strings.HasPrefix(v, "-") {
			break
		}
		if args[i].Input && family.CouldBeOption(args[i]) {
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
		fc.roots = []family.Field{family.Lit(".")}
	}
	for i < len(args) {
		a := args[i]
		v := a.Val
		if !a.Static {
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
			var cmd []family.Field
			for j < len(args) && !(args[j].Static && (args[j].Val == ";" || args[j].Val == "+")) {
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

func argAt(args []family.Field, i int) family.Field {
	if i < len(args) {
		return args[i]
	}
	return family.Field{}
}

// placeholderField is {} in find -exec: a file name the engine cannot know.
func placeholderField(src string) family.Field {
	return family.Field{Val: src, Src: src}
}

// judgeFind applies the find rules.
func judgeFind(ctx Context, c *family.Call) *family.Finding {
	args := c.Args
	fc := parseFind(args)
	if fc.dynamic == nil {
		for i := range args[1:] {
			if args[1+i].Subst {
				// Computed substitution output still decides find's
				// structure; strict mode wants it literal.
				if f := family.DynStructure(ctx, c, "a find argument is built from a substitution"); f != nil {
					return f
				}
				break
			}
		}
	}
	if fc.dynamic != nil {
		if fc.dynamic.Input {
			return family.CarrierDynamic(ctx, c, "the input adds find primaries")
		}
		if f := family.DynStructure(ctx, c, "a find primary is built from a substitution"); f != nil {
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
			if IsRootOrHome(ctx, c.Cwd, root) {
				return ctx.Block(guard.RuleRmRootOrHome, reasonRmRootHome, c.Seg)
			}
			if root.Static {
				abs := root.Val
				if !filepath.IsAbs(abs) && c.Cwd != "" {
					abs = filepath.Join(c.Cwd, abs)
				}
				if filepath.IsAbs(abs) && reachesGitMetadata(ctx, c.Cwd, abs) {
					return ctx.Block(guard.RuleFindGitMetadata, reasonFindGitMeta, c.Seg)
				}
			}
		}
	}
	for k, ex := range fc.execs {
		if !ctx.ChargeDerived(len(args)-fc.execAt[k]-1, c.Seg) {
			return ctx.Aborted()
		}
		if len(ex) == 0 {
			continue
		}
		exArgs := make([]family.Field, len(ex))
		for i, a := range ex {
			if a.Static && strings.Contains(a.Val, "{}") {
				exArgs[i] = placeholderField(a.Val)
				exArgs[i].Input = c.Carrier != "" && a.Input
			} else {
				exArgs[i] = a
			}
		}
		n := *c
		n.Args, n.Stdin = exArgs, nil
		if f := judgeExec(ctx, &n); f != nil {
			return f
		}
		if f := ctx.Aborted(); f != nil {
			return f
		}
	}
	if fc.delete {
		if f := deleteRoots(ctx, c, fc); f != nil {
			return f
		}
	}
	for _, w := range fc.writes {
		ctx.NoteWrite(c.Cwd, w, nil)
	}
	return nil
}

// execDeletesFound reports whether a -exec command removes the files find
// hands it.
func execDeletesFound(ex []family.Field) bool {
	i := 0
	for i < len(ex) {
		switch family.CommandBase(ex[i].Val) {
		case "sudo", "env", "command", "busybox", "nice", "nohup":
			i++
			for i < len(ex) && (strings.HasPrefix(ex[i].Val, "-") || strings.Contains(ex[i].Val, "=")) {
				i++
			}
			continue
		}
		break
	}
	if i >= len(ex) || family.CommandBase(ex[i].Val) != "rm" {
		return false
	}
	for _, a := range ex[i+1:] {
		if strings.Contains(a.Val, "{}") {
			return true
		}
	}
	return false
}

// judgeExec judges a -exec command; rm there runs on found files.
func judgeExec(ctx Context, c *family.Call) *family.Finding {
	args := c.Args
	i := 0
	for i < len(args) {
		b := family.CommandBase(args[i].Val)
		if b == "sudo" || b == "env" || b == "command" || b == "busybox" || b == "nice" || b == "nohup" {
			i++
			for i < len(args) && args[i].Static && (strings.HasPrefix(args[i].Val, "-") || strings.Contains(args[i].Val, "=")) {
				i++
			}
			continue
		}
		break
	}
	if i < len(args) && args[i].Static && family.CommandBase(args[i].Val) == "rm" {
		n := *c
		n.Args = args[i:]
		return judgeRm(ctx, &n, rmFindExec)
	}
	return ctx.Exec(*c)
}

// reachesGitMetadata reports whether a recursive delete starting at root
// reaches the git metadata of the repository around cwd or root.
func reachesGitMetadata(ctx Context, cwd, root string) bool {
	rr := ctx.RealPath(root)
	for _, d := range []string{cwd, rr} {
		protected, _ := ctx.GitMetadata(d)
		for _, p := range protected {
			if family.Within(p, rr) {
				return true
			}
		}
	}
	return false
}

// deleteRoots allows find -delete only below a temp directory or an
// allow path, without following symlinks, and never on the working directory
// or its parents.
func deleteRoots(ctx Context, c *family.Call, fc findCall) *family.Finding {
	block := func() *family.Finding { return ctx.Block(guard.RuleFindDelete, reasonFindDelete, c.Seg) }
	if fc.follow || fc.bsdRoot {
		return block()
	}
	for _, root := range fc.roots {
		if !root.Static || root.IFSSplit || root.Glob || family.HasDotDot(root.Val) || !filepath.IsAbs(root.Val) {
			return block()
		}
		p := filepath.Clean(root.Val)
		rp := ctx.RealPath(p)
		if c.Cwd != "" && family.Within(ctx.RealPath(c.Cwd), rp) {
			return block()
		}
		if ctx.StartDir() != "" && family.Within(ctx.RealPath(ctx.StartDir()), rp) {
			return block()
		}
		ok := false
		for _, t := range ctx.TempRoots() {
			if p == filepath.Clean(t) || rp == ctx.RealPath(t) {
				// A temp root itself (including $TMPDIR) holds other
				// programs' files, so it is never a disposable tree.
				return block()
			}
		}
		for _, t := range ctx.TempRoots() {
			if family.StrictlyWithin(p, t) && family.StrictlyWithin(rp, ctx.RealPath(t)) || family.StrictlyWithin(p, t) && rp == p {
				ok = true
			}
		}
		for _, ap := range ctx.AllowPaths() {
			if UsableAllowPath(ctx, ap) && family.Within(rp, ctx.RealPath(ap)) {
				ok = true
			}
		}
		if !ok {
			return block()
		}
	}
	return nil
}
