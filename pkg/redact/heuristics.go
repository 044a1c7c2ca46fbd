package redact

import "bytes"

// The heuristics below judge one word at a time (a run of token
// characters): known key formats by prefix, `name=value` and `name: value`
// where the name says the value is a secret, and anything random-looking.
// They catch what gitleaks' rules, written for source files, leave out:
// keys in free text without an assignment, and high-entropy words of any
// vendor.

// tokenChars are the characters a key, a JWT or a base64 secret is made of.
var tokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '+' || b == '/' || b == '=' || b == '.'
	}
	return t
}()

// Character classes of a token, gathered while it is scanned, so that the
// checks that cannot match (no digit: no key, nothing random) are skipped.
const (
	classDigit uint8 = 1 << iota
	classLetter
	classEquals
)

var classes = func() (t [256]uint8) {
	for c := '0'; c <= '9'; c++ {
		t[c] = classDigit
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = classLetter
		t[c-'a'+'A'] = classLetter
	}
	t['='] = classEquals
	return t
}()

// prefixes of known key formats, with the least length of the whole key.
var prefixes = []struct {
	p   string
	min int
}{
	{"sk-ant-", 24}, {"sk-proj-", 24}, {"sk-", 24}, {"sk_live_", 20}, {"sk_test_", 20}, {"rk_live_", 20},
	{"ghp_", 30}, {"gho_", 30}, {"ghu_", 30}, {"ghs_", 30}, {"ghr_", 30}, {"github_pat_", 30},
	{"glpat-", 20}, {"xoxb-", 20}, {"xoxp-", 20}, {"xoxa-", 20}, {"xoxs-", 20}, {"xapp-", 20},
	{"AKIA", 20}, {"ASIA", 20}, {"AIza", 35}, {"hf_", 30}, {"npm_", 36}, {"pypi-", 40}, {"eyJ", 40},
}

// separators are the token characters after which a key may start.
var separators = [256]bool{'_': true, '-': true, '+': true, '/': true, '=': true, '.': true}

// prefixStart are the first characters of the prefixes.
var prefixStart = func() (t [256]bool) {
	for _, p := range prefixes {
		t[p.p[0]] = true
	}
	return t
}()

// keyNames are words that, before ':' or '=', make the value after a secret.
var keyNames = []string{"key", "token", "secret", "password", "passwd", "pwd", "auth", "bearer", "credential", "apikey", "api_key", "access_key", "private_key", "client_secret"}

// words appends the spans of the words of s judged secret. A JSON or shell
// escape (\n, \t, \u00XX) is not part of the word after it.
func words(s []byte, dst []span) []span {
	n := len(s)
	for i := 0; i < n; {
		if !tokenChars[s[i]] {
			i++
			continue
		}
		if i > 0 && s[i-1] == '\\' {
			switch {
			case s[i] == 'u' && i+5 <= n:
				i += 5
				continue
			case s[i] == 'n' || s[i] == 't' || s[i] == 'r' || s[i] == 'b' || s[i] == 'f':
				i++
				continue
			}
		}
		j := i
		var mask uint8
		for j < n && tokenChars[s[j]] {
			mask |= classes[s[j]]
			j++
		}
		if j-i >= 8 {
			if start, end, ok := secretIn(s, i, j, mask); ok {
				dst = append(dst, span{start, end})
			}
		}
		i = j
	}
	return dst
}

// secretIn judges the token s[i:j], whose character classes are mask; it
// returns the span to mask.
func secretIn(s []byte, i, j int, mask uint8) (int, int, bool) {
	tok := s[i:j]
	mixed := mask&classDigit != 0 && mask&classLetter != 0
	// A known format starts the token or follows a separator inside it
	// (KEY=sk-ant-..., path/ghp_...); every one mixes letters and digits.
	for k := 0; mixed && k+20 <= len(tok); k++ {
		if k > 0 {
			// Jump to the next separator: a prefix starts only after one.
			for k < len(tok) && !separators[tok[k-1]] {
				k++
			}
			if k+20 > len(tok) {
				break
			}
		}
		rest := tok[k:]
		if !prefixStart[rest[0]] {
			continue
		}
		for _, p := range prefixes {
			if rest[0] != p.p[0] || !bytes.HasPrefix(rest, []byte(p.p)) {
				continue
			}
			if len(rest) >= p.min && hasDigitAndLetter(rest) {
				if p.p == "eyJ" && bytes.Count(rest, []byte{'.'}) < 2 {
					continue
				}
				return i + k, j, true
			}
		}
	}
	// name=value inside one token, or name: value / name = value / "name": "value" before it.
	if mask&classEquals != 0 {
		if eq := bytes.IndexByte(tok, '='); eq > 0 && eq < len(tok)-1 && namedSecret(tok[:eq]) && len(tok)-eq-1 >= 8 {
			return i + eq + 1, j, true
		}
	}
	if precededBySecretName(s, i) {
		return i, j, true
	}
	if mixed && highEntropy(tok) {
		return i, j, true
	}
	return 0, 0, false
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func hasDigitAndLetter(s []byte) bool {
	var d, l bool
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			d = true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			l = true
		}
		if d && l {
			return true
		}
	}
	return false
}

// keyNameEnds are the last letters of keyNames: a name ending otherwise is
// none of them (most names, looked at first).
var keyNameEnds = func() (t [256]bool) {
	for _, k := range keyNames {
		c := k[len(k)-1]
		t[c], t[c-'a'+'A'] = true, true
	}
	return t
}()

// namedSecret: an identifier whose last word is a secret's name.
func namedSecret(name []byte) bool {
	name = bytes.Trim(name, `"' `)
	if len(name) > 64 || len(name) < 3 {
		return false
	}
	if name[len(name)-1] == 's' || name[len(name)-1] == 'S' {
		name = name[:len(name)-1]
	}
	if !keyNameEnds[name[len(name)-1]] {
		return false
	}
	for _, k := range keyNames {
		if len(name) >= len(k) && bytes.EqualFold(name[len(name)-len(k):], []byte(k)) {
			return true
		}
	}
	return false
}

// precededBySecretName looks back from s[i] over quotes and blanks for ':'
// or '=' (or the word Bearer/Basic/token) and a secret's name before that.
func precededBySecretName(s []byte, i int) bool {
	k := i - 1
	for k >= 0 && (s[k] == ' ' || s[k] == '"' || s[k] == '\'' || s[k] == '\t') {
		k--
	}
	if k < 0 {
		return false
	}
	if s[k] != ':' && s[k] != '=' {
		w := k + 1
		for k >= 0 && isAlnum(s[k]) {
			k--
		}
		word := s[k+1 : w]
		if len(word) != 5 && len(word) != 6 {
			return false
		}
		return bytes.EqualFold(word, []byte("bearer")) || bytes.EqualFold(word, []byte("basic")) || bytes.EqualFold(word, []byte("token"))
	}
	k--
	for k >= 0 && (s[k] == ' ' || s[k] == '"' || s[k] == '\'' || s[k] == '\t') {
		k--
	}
	end := k + 1
	for k >= 0 && (isAlnum(s[k]) || s[k] == '_' || s[k] == '-' || s[k] == '.') {
		k--
	}
	return end > k+1 && namedSecret(s[k+1:end])
}

// highEntropy judges the parts of a token between separators.
func highEntropy(tok []byte) bool {
	if len(tok) < 32 {
		return false
	}
	start := 0
	for k := 0; k <= len(tok); k++ {
		if k < len(tok) && tok[k] != '/' && tok[k] != '.' && tok[k] != '-' {
			continue
		}
		if part := tok[start:k]; len(part) >= 32 && randomLooking(part) {
			return true
		}
		start = k + 1
	}
	return false
}

// randomLooking is the entropy heuristic: a word of 32 or more characters
// mixing letters and digits (and both cases, unless it is hex) that changes
// class often, with at least 4 bits of entropy per character; pure hex
// needs 64 characters and 3.5 bits, so commit hashes stay readable.
func randomLooking(s []byte) bool {
	// First the cheap structural checks, then the entropy.
	hex, lower, upper, digit := true, false, false, false
	changes, prev := 0, 0
	for i, c := range s {
		class := 3
		switch {
		case c >= '0' && c <= '9':
			class, digit = 0, true
		case c >= 'a' && c <= 'z':
			class, lower = 1, true
			if c > 'f' {
				hex = false
			}
		case c >= 'A' && c <= 'Z':
			class, upper = 2, true
			if c > 'F' {
				hex = false
			}
		default:
			hex = false
		}
		if i > 0 && class != prev {
			changes++
		}
		prev = class
	}
	if !digit || !(lower || upper) {
		return false
	}
	if !hex && !(lower && upper) {
		// Identifiers (snake_case with numbers) are not random; secrets in
		// base64 or base62 mix cases.
		return false
	}
	if hex && len(s) < 64 {
		return false
	}
	if !hex && changes*3 < len(s) {
		// Random base62 changes between lower case, upper case and digits
		// every other character or so; CamelCase words and names with a
		// number at the end (TestSomething1234) do not.
		return false
	}
	h := shannon(s)
	if hex {
		return h >= 3.5
	}
	return h >= 4.0
}
