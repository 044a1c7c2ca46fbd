package policy

import (
	"strings"
)

// rawSegments splits text the engine cannot parse into command-like segments
// of words: quotes are dropped, backslashes escape, and ; & | ( ) ` and $(
// separate commands. Newlines do not, so a command continued inside a broken
// quote is still seen whole.
func rawSegments(text string) [][]string {
	var segs [][]string
	var cur []string
	var b strings.Builder
	inTok := false
	flushTok := func() {
		if inTok {
			cur = append(cur, b.String())
			b.Reset()
			inTok = false
		}
	}
	flushSeg := func() {
		flushTok()
		if len(cur) > 0 {
			segs = append(segs, cur)
			cur = nil
		}
	}
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch c {
		case ' ', '\t', '\n', '\r', '\u2028', '\u2029', '\v', '\f':
			flushTok()
		case '\'', '"':
			inTok = true
		case '\\':
			if i+1 < len(rs) {
				i++
				if rs[i] != '\n' {
					b.WriteRune(rs[i])
					inTok = true
				}
			}
		case ';', '&', '|', '(', ')', '`', '{', '}':
			flushSeg()
		case '<', '>':
			flushTok()
		case '$':
			if i+1 < len(rs) && rs[i+1] == '(' {
				flushSeg()
				i++
				continue
			}
			b.WriteRune(c)
			inTok = true
		default:
			b.WriteRune(c)
			inTok = true
		}
	}
	flushSeg()
	return segs
}

// scanRawText looks for destructive commands in text the engine cannot parse
// (or text an unknown program receives): rm -rf, destructive git, find
// -delete, dd to a device, mkfs, shred. It is a pattern scan, so it blocks
// rm -rf whatever the target.
func (r *run) scanRawText(text, seg string) *finding {
	if text == "" || !r.enabled(RuleRawText) {
		return nil
	}
	for _, words := range rawSegments(text) {
		if !r.step(seg) {
			return r.abort
		}
		displayHead := len(words) > 0 && (words[0] == "echo" || words[0] == "rg")
		for k, w := range words {
			if k&255 == 255 && !r.step(seg) {
				return r.abort
			}
			name := commandBase(w)
			var what string
			switch {
			case name == "rm":
				what = rawRm(words[k:])
			case name == "git":
				what = rawGit(words[k:])
			case name == "find" && !displayHead:
				what = rawFind(words[k:])
			case name == "dd":
				for _, a := range words[k+1:] {
					if strings.HasPrefix(a, "of=/dev/") && !isHarmlessDevice(a[3:]) {
						what = "dd of=" + a[3:]
					}
				}
			case strings.HasPrefix(name, "mkfs"):
				for _, a := range words[k+1:] {
					if strings.HasPrefix(a, "/dev/") {
						what = "mkfs " + a
					}
				}
			case name == "shred":
				if k+1 < len(words) {
					what = "shred"
				}
			}
			if what != "" {
				return r.block(RuleRawText, fmtReason(reasonRawText, what), seg)
			}
		}
	}
	return nil
}

func rawRm(words []string) string {
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

func rawGit(words []string) string {
	fields := make([]field, len(words))
	for i, w := range words {
		fields[i] = lit(w)
	}
	inv := parseGitInvocation(fields, "", nil)
	if m := gitRule(inv.sub, vals(inv.rest)); m != nil {
		return "git " + inv.sub
	}
	return ""
}

func rawFind(words []string) string {
	fields := make([]field, len(words))
	for i, w := range words {
		fields[i] = lit(w)
	}
	fc := parseFind(fields)
	if fc.delete {
		return "find -delete"
	}
	for _, ex := range fc.execs {
		if len(ex) > 0 && commandBase(ex[0].val) == "rm" && rawRm(vals(ex)) != "" {
			return "find -exec rm -rf"
		}
	}
	return ""
}
