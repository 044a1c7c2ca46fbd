// Package redact removes secrets from text before it is stored or shown:
// an agent's output as a stream (Stream), and whole values (String): event
// fields, free text, log records (NewHandler).
//
// What is a secret:
//   - gitleaks' rule set (gitleaks/gitleaks.toml, a copy of the release named
//     in gitleaks/VERSION, MIT licensed: gitleaks/LICENSE), with its
//     keywords as a prefilter, its entropy thresholds and its allowlists;
//   - the exact values the caller holds (provider tokens, any variable whose
//     name says KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL or AUTH: SecretEnv);
//   - credentials in URLs (scheme://user:PASSWORD@host);
//   - known key formats by prefix (Anthropic, OpenAI, GitHub, GitLab, Slack,
//     AWS, Google, Hugging Face, npm, PyPI, Stripe, JWTs), `name=value` and
//     `name: value` where the name says key, token, secret, password or auth
//     (`Authorization: Bearer ...` too), and random-looking words (32 or more
//     characters mixing cases and digits with at least 4 bits of entropy per
//     character; pure hex needs 64, so commit hashes stay readable);
//   - PEM private keys, from BEGIN to END, on one line or over many.
//
// Text is judged a line at a time (a line ends at '\n' or '\r'), which is
// what lets a stream be redacted the same however it was cut: see Stream.
// A secret is replaced by Mask.
package redact

import (
	"bytes"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

// Mask replaces what is redacted.
const Mask = "[REDACTED]"

// defaultRules are gitleaks' rules, compiled once: an immutable table.
var defaultRules = sync.OnceValues(func() (*ruleSet, error) { return compileRules(gitleaksTOML) })

// Redactor judges text. It is safe for concurrent use.
type Redactor struct {
	// values are exact secrets, longest first (a longer one containing a
	// shorter one is replaced whole).
	values [][]byte
	rules  *ruleSet
}

// New returns a redactor that also removes the given exact values (those
// shorter than 8 characters are ignored: too likely to be ordinary words).
// It panics if the embedded rule set does not compile, which its tests
// rule out.
func New(values ...string) *Redactor {
	rules, err := defaultRules()
	if err != nil {
		panic(err)
	}
	r := &Redactor{rules: rules}
	seen := map[string]bool{}
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) >= 8 && !seen[v] {
			seen[v] = true
			r.values = append(r.values, []byte(v))
		}
	}
	slices.SortFunc(r.values, func(a, b []byte) int { return len(b) - len(a) })
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

// String returns s with every secret replaced (s itself when it holds
// none). Multi-line secrets are judged whole, as in a stream.
func (r *Redactor) String(s string) string {
	if r == nil || s == "" {
		return s
	}
	st := Stream{r: r, hold: DefaultHold}
	st.write([]byte(s))
	st.close()
	if !st.changed {
		return s
	}
	return string(st.out)
}

// Strings redacts each string of a slice (a new slice).
func (r *Redactor) Strings(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = r.String(s)
	}
	return out
}

// span is a range of a line to mask.
type span struct{ start, end int }

// scratch is the memory one scan reuses.
type scratch struct {
	spans, win []span
	ends       []hit
	// low is the line in lower case once lowered is set.
	low     []byte
	lowered bool
}

// lower returns line in lower case, computed once per line.
func (sc *scratch) lower(line []byte) []byte {
	if !sc.lowered {
		sc.low = lowerInto(sc.low[:0], line)
		sc.lowered = true
	}
	return sc.low
}

// scan returns the spans of line[from:] to mask (line[:from] is context
// from a piece of the same line already released) and whether a private
// key block begins in it without ending (its span runs to the end).
func (r *Redactor) scan(line []byte, from int, sc *scratch) ([]span, bool) {
	dst := sc.spans[:0]
	for _, v := range r.values {
		for off := 0; ; {
			i := bytes.Index(line[off:], v)
			if i < 0 {
				break
			}
			dst = append(dst, span{off + i, off + i + len(v)})
			off += i + len(v)
		}
	}
	dst = words(line, dst)
	rs := r.rules
	var hits ruleMask
	var longest int
	sc.ends, longest = rs.kw.scan(line, &hits, sc.ends[:0])
	var open bool
	if hits.has(rs.urlHit) {
		dst = urlCredentials(line, dst)
	}
	if hits.has(rs.pemHit) {
		dst, open = privateKeys(line, dst)
	}
	dst = r.gitleaks(line, &hits, longest, dst, sc)
	sc.spans = dst
	return clip(dst, from), open
}

// gitleaks appends the findings of the rules whose keywords the line holds
// (hits; longest is its longest run of runChars).
func (r *Redactor) gitleaks(line []byte, hits *ruleMask, longest int, dst []span, sc *scratch) []span {
	rs := r.rules
	for _, i := range rs.always {
		hits.add(i)
	}
	sc.lowered = false
	for w, word := range hits {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			i := w*64 + b
			if i >= len(rs.rules) || longest < rs.rules[i].run {
				continue
			}
			dst = rs.find(i, line, sc, dst)
		}
	}
	return dst
}

// lowerInto appends s in ASCII lower case to dst.
func lowerInto(dst, s []byte) []byte {
	for _, c := range s {
		dst = append(dst, lower(c))
	}
	return dst
}

// clip keeps the parts of spans at or after from, sorted and merged.
func clip(spans []span, from int) []span {
	out := spans[:0]
	for _, s := range spans {
		s.start = max(s.start, from)
		if s.end > s.start {
			out = append(out, s)
		}
	}
	if len(out) < 2 {
		return out
	}
	slices.SortFunc(out, func(a, b span) int { return a.start - b.start })
	merged := out[:1]
	for _, s := range out[1:] {
		last := &merged[len(merged)-1]
		if s.start <= last.end {
			last.end = max(last.end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}
