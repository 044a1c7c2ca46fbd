package redact

import "bytes"

var (
	pemBegin   = []byte("-----BEGIN")
	pemEnd     = []byte("-----END")
	pemDashes  = []byte("-----")
	privateKey = []byte("PRIVATE KEY")
)

// privateKeys appends the spans of PEM private keys that begin in line:
// from BEGIN to the end of the END line's marker when both are in the line
// (a key printed inside a JSON string, its newlines escaped), else from
// BEGIN to the end of the line, and then open is true: the lines that
// follow are the key's body (see Stream).
func privateKeys(line []byte, dst []span) (_ []span, open bool) {
	for off := 0; ; {
		i := bytes.Index(line[off:], pemBegin)
		if i < 0 {
			return dst, false
		}
		begin := off + i
		off = begin + len(pemBegin)
		head, ok := privateKeyHeader(line[begin:])
		if !ok {
			continue
		}
		if end := endMarker(line[begin+head:]); end >= 0 {
			off = begin + head + end
			dst = append(dst, span{begin, off})
			continue
		}
		return append(dst, span{begin, len(trimEOL(line))}), true
	}
}

// privateKeyHeader reports whether s starts with a private key's BEGIN line
// (-----BEGIN RSA PRIVATE KEY-----, ... OPENSSH ..., PGP ... KEY BLOCK-----)
// and its length.
func privateKeyHeader(s []byte) (int, bool) {
	const maxLabel = 100
	rest := s[len(pemBegin):]
	dash := bytes.Index(rest[:min(len(rest), maxLabel+len(pemDashes))], pemDashes)
	if dash < 0 || !bytes.Contains(rest[:dash], privateKey) {
		return 0, false
	}
	return len(pemBegin) + dash + len(pemDashes), true
}

// endMarker returns the offset just past the first END line's marker in s
// (-----END ... -----), or -1.
func endMarker(s []byte) int {
	i := bytes.Index(s, pemEnd)
	if i < 0 {
		return -1
	}
	i += len(pemEnd)
	j := bytes.Index(s[i:], pemDashes)
	if j < 0 || j > 100 {
		return -1
	}
	return i + j + len(pemDashes)
}

// trimEOL drops the line terminator.
func trimEOL(s []byte) []byte {
	if n := len(s); n > 0 && (s[n-1] == '\n' || s[n-1] == '\r') {
		return s[:n-1]
	}
	return s
}

// bodyLike reports whether a line can belong to a PEM block's body: base64,
// a header (Proc-Type: 4,ENCRYPTED), blank, possibly behind a line number
// (cat -n, grep -n) or quoted as a string of a list.
func bodyLike(line []byte) bool {
	s := bytes.TrimSpace(trimEOL(line))
	if n := leadingDigits(s); n > 0 && n < len(s) && (s[n] == '\t' || s[n] == ' ' || s[n] == ':' || s[n] == '|') {
		s = bytes.TrimSpace(s[n+1:])
	}
	s = bytes.TrimSuffix(s, []byte(","))
	s = bytes.TrimSuffix(s, []byte(`\n`))
	s = bytes.Trim(s, `"'`)
	if len(s) == 0 {
		return true
	}
	if c := bytes.IndexByte(s, ':'); c > 0 && pemHeaders[string(s[:c])] {
		return true
	}
	for _, c := range s {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

func leadingDigits(s []byte) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// pemHeaders are the headers a private key block may have (RFC 1421's,
// and the comment of SSH2 and PuTTY keys).
var pemHeaders = map[string]bool{"Proc-Type": true, "DEK-Info": true, "Comment": true}
