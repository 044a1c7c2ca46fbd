package policy

import (
	"strings"

	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/interp"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/powershell"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

// commandRules hands the command that runs to the rule family of its name,
// and judges what it reads on stdin when that is not its program.
func (r *run) commandRules(cc *cmdCall, base string) *family.Finding {
	args := cc.Args
	var f *family.Finding
	stdinProgram := false
	switch {
	case base == "git":
		f = git.Judge(r, &cc.Call)
	case base == "rm" || base == "rmdir" || base == "unlink" || base == "find" || base == "dd" || base == "shred" ||
		strings.HasPrefix(base, "mkfs") || base == "mke2fs" || base == "newfs":
		f = deletion.Judge(r, &cc.Call)
	case base == "pwsh" || base == "powershell":
		f = powershell.Launcher(r, &cc.Call, cc.sc.depth)
	case family.IsShell(base) || family.IsAwk(base) || family.InterpreterKind(base) != "":
		f = interp.Judge(r, &cc.Call)
		stdinProgram = interp.ReadsProgramOnStdin(&cc.Call)
	case base == "remove-item":
		f = powershell.RemoveItem(r, &cc.Call)
	case base == "cp" || base == "mv" || base == "install" || base == "ln" || base == "rsync" || base == "touch" || base == "truncate":
		r.noteWritesFromArgs(cc)
	case base == "tee":
		r.noteTee(cc)
		if cc.Stdin != nil && cc.Stdin.Known {
			for _, a := range args[1:] {
				if a.Proc != nil {
					if f = r.feedProcSubst(a.Proc, cc.sc, cc.Stdin.Text); f != nil {
						break
					}
				}
			}
		}
	}
	if f != nil || r.abort != nil {
		return r.firstOf(f)
	}
	if !stdinProgram {
		if f := r.stdinPolicy(cc, base); f != nil {
			return f
		}
	}
	return nil
}

// dataSinks read standard input as data and never execute it; a quoted heredoc
// fed to them is prose.
var dataSinks = family.NameSet("cat", "tee", "wc", "head", "tail", "sort", "uniq", "less", "more", "grep", "egrep", "fgrep", "rg", "jq",
	"yq", "base64", "xxd", "od", "hexdump", "cut", "tr", "column", "fold", "nl", "fmt", "pbcopy", "xclip", "xsel", "wl-copy",
	"diff", "cmp", "patch", "sha256sum", "sha1sum", "md5sum", "shasum", "md5", "tac", "rev", "paste", "expand", "unexpand",
	"iconv", "gzip", "gunzip", "zcat", "bzip2", "xz", "zstd", "tar", "openssl", "gpg", "echo", "printf", "true", ":", "read",
	"mail", "sendmail", "envsubst", "sponge", "dos2unix", "unix2dos", "ts", "pv")

// isDataSink reports whether cc reads its stdin as data.
func isDataSink(cc *cmdCall, base string) bool {
	if dataSinks[base] {
		return true
	}
	args := family.Vals(cc.Args)
	switch base {
	case "git":
		for i, a := range args {
			switch a {
			case "apply", "am", "hash-object", "mailinfo", "mailsplit", "fast-import", "update-index", "check-attr", "check-ignore", "cat-file", "notes":
				return true
			case "commit", "tag", "merge", "stash":
				for _, b := range args[i+1:] {
					if b == "-F" || b == "--file=-" || b == "-F-" || b == "--file" || strings.HasPrefix(b, "--file=") {
						return true
					}
				}
			}
		}
	case "gh", "glab":
		for _, a := range args {
			if a == "--body-file" || a == "-F" || a == "--input" || strings.HasPrefix(a, "--body-file=") || a == "--file" {
				return true
			}
		}
	case "curl", "http", "xh":
		for _, a := range args {
			if strings.HasPrefix(a, "@-") || strings.Contains(a, "@-") || a == "--data-binary" || a == "-T" {
				return true
			}
		}
	case "kubectl", "oc":
		for _, a := range args {
			if a == "-f" || a == "--filename" {
				return true
			}
		}
	}
	return false
}

// stdinPolicy judges text fed to a command that does not run it as code: an
// unquoted heredoc, or text fed to a program that is not a known data sink,
// is scanned for destructive commands.
func (r *run) stdinPolicy(cc *cmdCall, base string) *family.Finding {
	in := cc.Stdin
	if in == nil || (in.Kind != family.StdinHeredoc && in.Kind != family.StdinHereString) {
		return nil
	}
	if in.Kind == family.StdinHeredoc && !in.Quoted {
		return rawtext.Scan(r, in.Text, cc.Seg)
	}
	if isDataSink(cc, base) {
		return nil
	}
	return rawtext.Scan(r, in.Text, cc.Seg)
}
