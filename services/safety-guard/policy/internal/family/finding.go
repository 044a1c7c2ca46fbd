package family

import "strings"

// Finding is a blocking verdict on part of a command.
type Finding struct {
	Rule    string
	Reason  string
	Segment string
}

// Clip bounds segment texts so that a decision never carries megabytes back.
func Clip(s string) string {
	s = strings.TrimSpace(s)
	const max = 512
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// FmtReason fills the %s placeholders of a reason with args, in order.
func FmtReason(format string, args ...string) string {
	out := format
	for _, a := range args {
		out = strings.Replace(out, "%s", a, 1)
	}
	return out
}

// ReasonStrictUnparsable is the reason strict mode gives for what it cannot parse.
const ReasonStrictUnparsable = "Command could not be safely analyzed (strict mode). Verify manually."
