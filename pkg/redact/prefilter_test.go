package redact

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/phantom-run/phantom/pkg/redact/redacttest"
)

// bruteForce is what gitleaks' rules find in a line as gitleaks finds it:
// every rule that has a keyword in the line, its whole expression over the
// whole line.
func bruteForce(rs *ruleSet, keywords map[string][]string, line []byte) []span {
	var dst []span
	low := strings.ToLower(string(line))
	for i := range rs.rules {
		r := &rs.rules[i]
		gate := len(keywords[r.id]) == 0
		for _, k := range keywords[r.id] {
			gate = gate || strings.Contains(low, strings.ToLower(k))
		}
		if !gate {
			continue
		}
		for _, m := range r.re.FindAllSubmatchIndex(line, -1) {
			s, e := group(m, r.secretGroup)
			if s < 0 || e <= s {
				continue
			}
			secret := line[s:e]
			if r.entropy > 0 && shannon(secret) <= r.entropy {
				continue
			}
			if rs.allowed(r, secret, line, func() []byte { return line[m[0]:m[1]] }) {
				continue
			}
			dst = append(dst, span{s, e})
		}
	}
	return dst
}

// TestPrefilterMissesNothing checks that the keyword prefilter, the run
// lengths and the windows around keywords and operators never lose what
// the rules find when run on everything: on the corpus, on source code and
// stream-json, and on values assigned to every rule's keywords.
func TestPrefilterMissesNothing(t *testing.T) {
	t.Parallel()
	r := New()
	rs := r.rules
	var lines [][]byte
	for _, sh := range redacttest.Samples() {
		lines = append(lines, bytes.SplitAfter([]byte(sh.Text), []byte("\n"))...)
	}
	files, err := filepath.Glob("../bus/*.go")
	require.NoError(t, err)
	for _, f := range append(files, "testdata/claude_bash_tool.ndjson", "../../services/runner/README.md") {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		lines = append(lines, bytes.SplitAfter(data, []byte("\n"))...)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	value := func(n int, alphabet string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	alphabets := []string{"0123456789abcdef", "abcdefghijklmnopqrstuvwxyz0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "0123456789"}
	var assigned int
	keywords := map[string][]string{}
	for _, gr := range gitleaksRules(t) {
		keywords[gr.ID] = gr.Keywords
		for _, k := range gr.Keywords {
			for _, n := range []int{16, 20, 32, 40, 64} {
				v := value(n, alphabets[rng.IntN(len(alphabets))])
				for _, form := range []string{"%s_token = %s\n", `{"%s_secret": "%s"}` + "\n", "export %s_KEY=%s\n", "%s: %s\n", "%s%s\n"} {
					lines = append(lines, fmt.Appendf(nil, form, k, v))
				}
			}
		}
	}
	var sc scratch
	for _, line := range lines {
		want := bruteForce(rs, keywords, line)
		got, _ := r.scan(line, 0, &sc)
		for _, w := range want {
			require.True(t, covered(got, w.start, w.end), "rule finding %q in %q is not masked (got %v)", line[w.start:w.end], line, got)
		}
		if len(want) > 0 {
			assigned++
		}
	}
	require.Greater(t, assigned, 200, "the generated lines exercise the rules")
}

func gitleaksRules(t *testing.T) []gitleaksRule {
	t.Helper()
	var cfg gitleaksConfig
	require.NoError(t, tomlDecode(gitleaksTOML, &cfg))
	return cfg.Rules
}

// TestRuleShapes pins what the prefilter relies on in the rule set, so that
// a new release of it that changes them is noticed.
func TestRuleShapes(t *testing.T) {
	t.Parallel()
	rs := New().rules
	var assigned, prefixed, whole []string
	for _, r := range rs.rules {
		switch {
		case r.assign != nil:
			assigned = append(assigned, r.id)
		case r.prefixes != nil:
			prefixed = append(prefixed, r.id)
		default:
			whole = append(whole, r.id)
		}
	}
	t.Logf("%d rules: %d semi-generic, %d by prefix, %d on the whole line: %s", len(rs.rules), len(assigned), len(prefixed), len(whole), strings.Join(whole, " "))
	require.Greater(t, len(rs.rules), 200)
	require.Contains(t, assigned, "generic-api-key", "the generic rule is matched in parts")
	require.Greater(t, len(assigned), 60)
}
