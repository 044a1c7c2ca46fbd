package redact

import "bytes"

// urlCredentials appends the passwords of URLs written with credentials
// (postgres://user:PASSWORD@host/db, https://x-access-token:TOKEN@github.com):
// the password is masked, the user and the host stay readable.
func urlCredentials(s []byte, dst []span) []span {
	for off := 0; ; {
		i := bytes.Index(s[off:], []byte("://"))
		if i < 0 {
			return dst
		}
		i += off
		off = i + 3
		if i == 0 || !schemeChar(s[i-1]) {
			continue
		}
		// The authority runs to the first character that ends it; its
		// userinfo is what comes before its last '@'.
		end := off
		for end < len(s) && !authorityEnd[s[end]] {
			end++
		}
		at := bytes.LastIndexByte(s[off:end], '@')
		if at < 0 {
			continue
		}
		colon := bytes.IndexByte(s[off:off+at], ':')
		if colon < 0 || colon+1 == at {
			continue
		}
		dst = append(dst, span{off + colon + 1, off + at})
		off = end
	}
}

func schemeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '.' || c == '-'
}

// authorityEnd are the characters that end a URL's authority, or the URL
// itself in prose, JSON and shell.
var authorityEnd = func() (t [256]bool) {
	for _, c := range "/?# \t\r\n\"'`<>\\{}[]|^" {
		t[c] = true
	}
	return t
}()
