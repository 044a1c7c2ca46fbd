package engine

import (
	"strings"
	"unicode/utf8"
)

// cleanText makes s fit for a text column: Postgres refuses NUL and invalid
// UTF-8, which a malformed message may well hold.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
