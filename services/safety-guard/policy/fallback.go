package policy

import (
	"errors"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/interp"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/rawtext"
)

func isUnclosedQuote(err error) bool {
	return err != nil && strings.Contains(err.Error(), "without closing quote")
}

// judgeUnparsable handles text that does not parse as bash. Strict mode
// blocks it. Otherwise the text is scanned for destructive patterns and a few
// repaired readings of it are judged, so a typo cannot hide "rm -rf".
func (r *run) judgeUnparsable(src string, sc *scope, kind scriptKind, err error) *family.Finding {
	if r.mode.Has(guard.ModeStrict) {
		return &family.Finding{Rule: guard.RuleEngineUnparsable, Segment: src, Reason: family.ReasonStrictUnparsable}
	}
	if f := rawtext.Scan(r, src, src); f != nil {
		return f
	}
	for _, fixed := range repairs(src, err) {
		if !r.Step(src) {
			return r.abort
		}
		file, perr := parseBash(fixed)
		if perr != nil {
			continue
		}
		c := sc.clone()
		saved := c.src
		c.src = fixed
		f := r.walkStmts(file.Stmts, c)
		c.src = saved
		if f != nil {
			return f
		}
	}
	return nil
}

// repairs proposes parseable readings of broken input: a closed quote, a
// dropped dangling operator, a closed heredoc, or the lines on their own.
func repairs(src string, err error) []string {
	var out []string
	cur := src
	curErr := err
	for attempt := 0; attempt < 6 && curErr != nil; attempt++ {
		next, ok := repairOnce(cur, curErr)
		if !ok || next == cur {
			break
		}
		cur = next
		_, curErr = parseBash(cur)
	}
	if curErr == nil && cur != src {
		out = append(out, cur)
	}
	// Each line alone, for input broken beyond a simple fix.
	if strings.Contains(src, "\n") {
		for _, line := range strings.Split(src, "\n") {
			if strings.TrimSpace(line) != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

func repairOnce(src string, err error) (string, bool) {
	msg := err.Error()
	var pe syntax.ParseError
	off := -1
	if errors.As(err, &pe) {
		off = int(pe.Pos.Offset())
	}
	switch {
	case strings.Contains(msg, "without closing quote `'`"):
		return src + "'", true
	case strings.Contains(msg, "without closing quote `\"`"):
		return src + `"`, true
	case strings.Contains(msg, "without closing quote"):
		return src + "`", true
	case strings.Contains(msg, "unclosed here-document"):
		i := strings.Index(msg, "`")
		j := strings.LastIndex(msg, "`")
		if i >= 0 && j > i {
			return src + "\n" + msg[i+1:j] + "\n", true
		}
	case strings.Contains(msg, "can only immediately follow a statement") || strings.Contains(msg, "is not a valid start for a statement"):
		t := strings.TrimLeft(src, " \t\n")
		for _, op := range []string{"&&", "||", "|&", "|", "&", ";"} {
			if strings.HasPrefix(t, op) {
				return t[len(op):], true
			}
		}
		if off >= 0 && off < len(src) {
			return src[:off] + " " + src[off+1:], true
		}
	case strings.Contains(msg, "must be followed by"):
		if off >= 0 && off < len(src) {
			end := off
			for end < len(src) && strings.IndexByte("<>&|", src[end]) >= 0 {
				end++
			}
			return src[:off] + " " + src[end:], true
		}
	case off >= 0 && off < len(src):
		// Drop the rest of the offending line.
		end := strings.IndexByte(src[off:], '\n')
		if end < 0 {
			return src[:off], true
		}
		return src[:off] + src[off+end:], true
	}
	return src, false
}

// fallbackScan looks into the arguments of a command the engine has no rule
// for, so that "tool rm -rf /" or "tool git reset --hard" are still judged.
// Commands that only display their arguments are skipped.
func (r *run) fallbackScan(cc *cmdCall, base string) *family.Finding {
	if displayCommands[base] || len(cc.Args) < 2 || hasRuleFamily(base) {
		return nil
	}
	for i := 1; i < len(cc.Args); i++ {
		a := cc.Args[i]
		if !a.Static {
			continue
		}
		name := family.CommandBase(a.Val)
		switch {
		case name == "rm" || name == "git" || name == "find":
		case family.IsShell(name) && i+1 < len(cc.Args) && strings.HasPrefix(cc.Args[i+1].Val, "-") && strings.Contains(cc.Args[i+1].Val, "c"):
		default:
			continue
		}
		if !r.chargeDerived(len(cc.Args)-i, cc.Seg) {
			return r.abort
		}
		n := cc.with(cc.Args[i:])
		n.external = true
		var f *family.Finding
		switch name {
		case "rm":
			f = deletion.Judge(r, &n.Call)
		case "git":
			f = git.Judge(r, &n.Call)
		case "find":
			f = deletion.Judge(r, &n.Call)
		default:
			f = interp.Judge(r, &n.Call)
		}
		if f != nil || r.abort != nil {
			return r.firstOf(f)
		}
	}
	return nil
}

// displayCommands print or inspect their arguments and never run them.
var displayCommands = family.NameSet("echo", "printf", "cat", "head", "tail", "less", "more", "grep", "egrep", "fgrep", "rg", "ag", "ack",
	"sed", "awk", "cut", "tr", "sort", "uniq", "wc", "tee", "man", "help", "info", "type", "which", "whereis", "whatis", "apropos",
	"file", "stat", "ls", "ll", "dir", "tree", "pwd", "date", "cal", "uptime", "whoami", "id", "groups", "hostname", "uname", "env",
	"printenv", "set", "export", "alias", "history", "jobs", "fg", "bg", "test", "[", "true", "false", "read", "return", "exit",
	"break", "continue", "shift", "wait", "trap", "basename", "dirname", "realpath", "readlink", "md5sum", "sha256sum", "base64",
	"xxd", "od", "hexdump", "strings", "diff", "cmp", "comm", "join", "paste", "column", "fmt", "fold", "nl", "pr", "expand",
	"unexpand", "rev", "tac", "shuf", "seq", "yes", "sleep", "logger", "write", "wall", "mesg", "notify-send", "jq", "yq", "say",
	"git", "gh", "glab")

// hasRuleFamily reports commands with their own rules, which the fallback
// scan must not second-guess.
func hasRuleFamily(base string) bool {
	return base == "git" || base == "rm" || base == "rmdir" || base == "find" || family.IsShell(base) || family.IsAwk(base) ||
		family.InterpreterKind(base) != "" || base == "dd" || base == "shred" || strings.HasPrefix(base, "mkfs") ||
		base == "xargs" || base == "parallel" || base == "pwsh" || base == "powershell" || base == "remove-item"
}
