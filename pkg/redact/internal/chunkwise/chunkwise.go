// Package chunkwise is the redactor the runner ran on each output chunk on
// its own before pkg/redact judged output as a stream. It stays only as the
// baseline that pkg/redact's benchmarks measure against, in the same run.
//
// Three detectors, one pass over the text: exact values; known key formats
// by prefix; `name=value` where the name says key, token, secret, password
// or auth; and a heuristic for random-looking words. PEM private key blocks
// are masked from BEGIN to END.
package chunkwise

import (
	"math"
	"sort"
	"strings"
)

// Mask replaces what is redacted.
const Mask = "[REDACTED]"

// Redactor redacts text. It is safe for concurrent use.
type Redactor struct {
	// values are exact secrets, longest first (a longer one containing a
	// shorter one is replaced whole).
	values []string
}

// New returns a redactor that also removes the given exact values (those
// shorter than 8 characters are ignored: too likely to be ordinary words).
func New(values ...string) *Redactor {
	r := &Redactor{}
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) >= 8 && !seen[v] {
			seen[v] = true
			r.values = append(r.values, v)
		}
	}
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// secretNames are parts of variable names whose values are secrets.
var secretNames = []string{"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE", "SESSION_ID"}

// SecretEnv returns the values of the KEY=VALUE entries whose names say they
// are secrets.
func SecretEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			continue
		}
		up := strings.ToUpper(k)
		for _, n := range secretNames {
			if strings.Contains(up, n) {
				out = append(out, v)
				break
			}
		}
	}
	return out
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	for _, v := range r.values {
		if strings.Contains(s, v) {
			s = strings.ReplaceAll(s, v, Mask)
		}
	}
	s = redactPEM(s)
	var b *strings.Builder
	last := 0
	n := len(s)
	for i := 0; i < n; {
		if !isTokenChar(s[i]) {
			i++
			continue
		}
		if i > 0 && s[i-1] == '\\' {
			// A JSON or shell escape (\n, \t, \u00XX) is not part of the word after it.
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
		for j < n && isTokenChar(s[j]) {
			mask |= classes[s[j]]
			j++
		}
		if j-i >= 8 {
			if start, end, ok := secretIn(s, i, j, mask); ok {
				if b == nil {
					b = &strings.Builder{}
					b.Grow(len(s))
				}
				b.WriteString(s[last:start])
				b.WriteString(Mask)
				last = end
			}
		}
		i = j
	}
	if b == nil {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// Strings redacts each string of a slice (a new slice).
func (r *Redactor) Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.String(s)
	}
	return out
}

// Tail is TokenTail: how much of the end of p a piecewise redaction holds
// back for the next piece.
func (r *Redactor) Tail(p []byte) int { return TokenTail(p) }

// tokenChars are the characters a key, a JWT or a base64 secret is made of.
var tokenChars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		t[c] = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '+' || b == '/' || b == '=' || b == '.'
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenChars[c] }

// maxTokenTail bounds TokenTail: a longer run of token characters (a base64
// blob) is no key the redactor knows, and holding it back would only delay it.
const maxTokenTail = 8 << 10

// TokenTail returns the length of the run of token characters that ends p
// (0 when it is longer than 8 KiB). Text that is redacted in pieces cuts
// before it, so that a secret at the cut is seen whole by one of them.
func TokenTail(p []byte) int {
	n := 0
	for n < len(p) && isTokenChar(p[len(p)-1-n]) {
		n++
		if n > maxTokenTail {
			return 0
		}
	}
	return n
}

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

// secretIn judges the token s[i:j], whose character classes are mask; it
// returns the span to mask.
func secretIn(s string, i, j int, mask uint8) (int, int, bool) {
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
			if rest[0] != p.p[0] || !strings.HasPrefix(rest, p.p) {
				continue
			}
			if len(rest) >= p.min && hasDigitAndLetter(rest) {
				if p.p == "eyJ" && strings.Count(rest, ".") < 2 {
					continue
				}
				return i + k, j, true
			}
		}
	}
	// name=value inside one token, or name: value / name = value / "name": "value" before it.
	if mask&classEquals != 0 {
		if eq := strings.IndexByte(tok, '='); eq > 0 && eq < len(tok)-1 && namedSecret(tok[:eq]) && len(tok)-eq-1 >= 8 {
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

func hasDigitAndLetter(s string) bool {
	var d, l bool
	for i := 0; i < len(s); i++ {
		c := s[i]
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

// namedSecret: an identifier whose last word is a secret's name.
func namedSecret(name string) bool {
	name = strings.Trim(name, `"' `)
	if len(name) > 64 || len(name) < 3 {
		return false
	}
	if name[len(name)-1] == 's' || name[len(name)-1] == 'S' {
		name = name[:len(name)-1]
	}
	for _, k := range keyNames {
		if len(name) >= len(k) && strings.EqualFold(name[len(name)-len(k):], k) {
			return true
		}
	}
	return false
}

// precededBySecretName looks back from s[i] over quotes and blanks for ':'
// or '=' (or the word Bearer/Basic) and a secret's name before that.
func precededBySecretName(s string, i int) bool {
	k := i - 1
	for k >= 0 && (s[k] == ' ' || s[k] == '"' || s[k] == '\'' || s[k] == '\t') {
		k--
	}
	if k < 0 {
		return false
	}
	if s[k] != ':' && s[k] != '=' {
		// "Bearer <token>", "Basic <token>".
		w := k + 1
		for k >= 0 && isAlnum(s[k]) {
			k--
		}
		word := strings.ToLower(s[k+1 : w])
		return word == "bearer" || word == "basic" || word == "token"
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
func highEntropy(tok string) bool {
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

func randomLooking(s string) bool {
	// First the cheap structural checks, then the entropy.
	hex, lower, upper, digit := true, false, false, false
	changes, prev := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
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
		// Commit hashes and other hex ids are not secrets by their look alone.
		return false
	}
	if !hex && changes*3 < len(s) {
		// Random base62 changes between lower case, upper case and digits
		// every other character or so; CamelCase words and names with a
		// number at the end (TestSomething1234) do not.
		return false
	}
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	if hex {
		return h >= 3.5
	}
	return h >= 4.0
}

// redactPEM masks PEM private key blocks.
func redactPEM(s string) string {
	const begin = "-----BEGIN"
	if !strings.Contains(s, begin) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, begin)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		head := s[i:]
		eol := strings.Index(head, "-----\n")
		if eol < 0 || !strings.Contains(head[:eol], "PRIVATE KEY") {
			b.WriteString(s[:i+len(begin)])
			s = s[i+len(begin):]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(Mask)
		end := strings.Index(head, "-----END")
		if end < 0 {
			return b.String()
		}
		rest := head[end+len("-----END"):]
		if k := strings.Index(rest, "-----"); k >= 0 {
			rest = rest[k+5:]
		} else {
			rest = ""
		}
		s = rest
	}
}
