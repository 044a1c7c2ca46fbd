// Package rawtext scans text the engine cannot parse as a command line (or
// text an unknown program receives) for destructive commands: rm -rf,
// destructive git, find -delete or -exec rm, dd to a device, mkfs, shred. It
// is a pattern scan, so it blocks rm -rf whatever the target.
package rawtext

import (
	"strings"
	"unicode/utf8"

	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/deletion"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
)

// Context is what the scan needs of the walker: how to decide, and the
// step budget (long text is scanned in steps).
type Context interface {
	family.Verdicts
	// Step charges one unit of work; false once a budget is spent, and
	// Aborted says why.
	Step(segment string) bool
	Aborted() *family.Finding
}

const reasonRawText = "Unparseable or opaque command text contains a destructive command (%s); it cannot be analysed safely."

// rawSegments splits text the engine cannot parse into command-like segments
// of words: quotes are dropped, backslashes escape, and ; & | ( ) ` and $(
// separate commands. Newlines do not, so a command continued inside a broken
// quote is still seen whole.
func rawSegments(text string) [][]string {
	var segs [][]string
	var cur []string
	var b strings.Builder
	// A token is text[start:i] until a quote or escape forces a copy into b;
	// long inputs are mostly plain words, so most tokens are not copied.
	start, copying, inTok := -1, false, false
	flushTok := func(end int) {
		if inTok {
			if copying {
				cur = append(cur, b.String())
				b.Reset()
			} else {
				cur = append(cur, text[start:end])
			}
		}
		start, copying, inTok = -1, false, false
	}
	toCopy := func(end int) {
		if !copying {
			copying = true
			if start >= 0 {
				b.WriteString(text[start:end])
			}
		}
	}
	flushSeg := func(end int) {
		flushTok(end)
		if len(cur) > 0 {
			segs = append(segs, cur)
			cur = nil
		}
	}
	for i := 0; i < len(text); {
		c := text[i]
		size := 1
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(text[i:])
			size = n
			if r == '\u2028' || r == '\u2029' {
				flushTok(i)
				i += size
				continue
			}
		}
		switch c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			flushTok(i)
		case '\'', '"':
			if !inTok {
				start, inTok = i, true
			}
			toCopy(i)
		case '\\':
			if i+1 < len(text) {
				_, n := utf8.DecodeRuneInString(text[i+1:])
				if text[i+1] != '\n' {
					if !inTok {
						start, inTok = i, true
					}
					toCopy(i)
					b.WriteString(text[i+1 : i+1+n])
				} else if inTok {
					// A line continuation joins the token's halves.
					toCopy(i)
				}
				size = 1 + n
			} else if inTok {
				// A trailing backslash escapes nothing and is dropped.
				toCopy(i)
			}
		case ';', '&', '|', '(', ')', '`', '{', '}':
			flushSeg(i)
		case '<', '>':
			flushTok(i)
		case '$':
			if i+1 < len(text) && text[i+1] == '(' {
				flushSeg(i)
				i += 2
				continue
			}
			fallthrough
		default:
			if !inTok {
				start, inTok = i, true
			}
			if copying {
				b.WriteString(text[i : i+size])
			}
		}
		i += size
	}
	flushSeg(len(text))
	return segs
}

// Scan looks for destructive commands in text the engine cannot parse
// (or text an unknown program receives): rm -rf, destructive git, find
// -delete, dd to a device, mkfs, shred. It is a pattern scan, so it blocks
// rm -rf whatever the target.
func Scan(ctx Context, text, seg string) *family.Finding {
	if text == "" || !ctx.Enabled(guard.RuleRawText) {
		return nil
	}
	for _, words := range rawSegments(text) {
		if !ctx.Step(seg) {
			return ctx.Aborted()
		}
		displayHead := len(words) > 0 && (words[0] == "echo" || words[0] == "rg")
		for k, w := range words {
			if k&255 == 255 && !ctx.Step(seg) {
				return ctx.Aborted()
			}
			name := family.CommandBase(w)
			var what string
			switch {
			case name == "rm":
				what = deletion.RawRm(words[k:])
			case name == "git":
				what = git.RawCommand(words[k:])
			case name == "find" && !displayHead:
				what = deletion.RawFind(words[k:])
			case name == "dd":
				for _, a := range words[k+1:] {
					if strings.HasPrefix(a, "of=/dev/") && !deletion.IsHarmlessDevice(a[3:]) {
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
				return ctx.Block(guard.RuleRawText, family.FmtReason(reasonRawText, what), seg)
			}
		}
	}
	return nil
}
