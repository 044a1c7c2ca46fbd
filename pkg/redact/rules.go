package redact

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/BurntSushi/toml"
)

// gitleaksTOML is gitleaks' default rule set, copied unchanged with its
// license beside it (gitleaks/VERSION names the release; `make
// redact-rules-check` compares the copy with that release).
//
//go:embed gitleaks/gitleaks.toml
var gitleaksTOML []byte

// gitleaksConfig is the part of gitleaks' configuration format the redactor
// uses. Paths and commits are not known for agent output, so rules and
// allowlists that depend on them are left out (see compileRules).
type gitleaksConfig struct {
	Allowlist  gitleaksAllowlist   `toml:"allowlist"`
	Allowlists []gitleaksAllowlist `toml:"allowlists"`
	Rules      []gitleaksRule      `toml:"rules"`
}

type gitleaksRule struct {
	ID          string              `toml:"id"`
	Regex       string              `toml:"regex"`
	SecretGroup int                 `toml:"secretGroup"`
	Entropy     float64             `toml:"entropy"`
	Keywords    []string            `toml:"keywords"`
	Path        string              `toml:"path"`
	Allowlists  []gitleaksAllowlist `toml:"allowlists"`
}

type gitleaksAllowlist struct {
	Condition   string   `toml:"condition"`
	RegexTarget string   `toml:"regexTarget"`
	Regexes     []string `toml:"regexes"`
	Stopwords   []string `toml:"stopwords"`
	Paths       []string `toml:"paths"`
	Commits     []string `toml:"commits"`
}

// rule is a compiled gitleaks rule.
type rule struct {
	id          string
	re          *regexp.Regexp
	secretGroup int
	entropy     float64
	allow       []allowlist
	// run is a length that every match of re holds as one unbroken run of
	// runChars: a line whose longest such run is shorter cannot match, so
	// the regular expression is not run on it.
	run int
	// maxLen bounds a match's length (-1: unbounded).
	maxLen int
	// prefixes, when set, start every match (one of them; lower case): re
	// runs only around their occurrences; prefixRun is set when an unbounded match is
	// one run of runChars from its prefix on, up to a short tail.
	prefixes  [][]byte
	folded    []bool // prefixes[i] is matched in any case (else as it is)
	prefixRun bool
	// boundary is set when \b comes before the prefix: an occurrence
	// right after a word character is no match (the "ey" of "key").
	// minRun is the least run of runChars a match makes from its prefix
	// on (0: unknown).
	boundary bool
	minRun   int
	// assign is set for gitleaks' "semi-generic" rules (an identifier
	// assigned a value), matched in parts.
	assign *assignment
}

// allowlist is a compiled gitleaks allowlist: a finding is kept unless one
// of the regexes matches its target or its secret contains a stopword.
type allowlist struct {
	target    string // "secret", "match" or "line"
	regexes   []*regexp.Regexp
	stopwords []string
}

func (a allowlist) allows(secret, line []byte, match func() []byte) bool {
	target := secret
	switch a.target {
	case "match":
		target = match()
	case "line":
		target = line
	}
	for _, re := range a.regexes {
		if re.Match(target) {
			return true
		}
	}
	if len(a.stopwords) > 0 {
		low := strings.ToLower(string(secret))
		for _, w := range a.stopwords {
			if strings.Contains(low, w) {
				return true
			}
		}
	}
	return false
}

// ruleSet is every compiled rule with the keyword prefilter over them.
type ruleSet struct {
	rules []rule
	// always are the rules without keywords, run on every line.
	always []int
	// urlHit and pemHit are two more bits of the keyword hits, past the
	// rules: "://" (a URL that may hold credentials) and "-----begin" (a
	// PEM block), so that the same pass tells whether to look for them.
	urlHit, pemHit int
	kw             *keywords
	global         []allowlist
}

// compileRules compiles gitleaks' rules. A rule that only applies to some
// file paths (pkcs12 files, Terraform or Kubernetes manifests) is left out:
// agent output has no path. An allowlist that needs a path or a commit to
// match ("AND" with paths) never applies, one that lists them among others
// ("OR") applies through its regexes and stopwords.
func compileRules(data []byte) (*ruleSet, error) {
	var cfg gitleaksConfig
	if err := tomlDecode(data, &cfg); err != nil {
		return nil, fmt.Errorf("could not read the gitleaks rules: %w", err)
	}
	rs := &ruleSet{}
	for _, a := range append([]gitleaksAllowlist{cfg.Allowlist}, cfg.Allowlists...) {
		al, ok, err := compileAllowlist(a)
		if err != nil {
			return nil, fmt.Errorf("could not compile the global allowlist: %w", err)
		}
		if ok {
			rs.global = append(rs.global, al)
		}
	}
	var kws []string
	var kwRule []int
	for _, gr := range cfg.Rules {
		if gr.Path != "" || gr.Regex == "" {
			continue
		}
		re, err := regexp.Compile(gr.Regex)
		if err != nil {
			return nil, fmt.Errorf("could not compile gitleaks rule %s: %w", gr.ID, err)
		}
		if gr.SecretGroup > re.NumSubexp() {
			return nil, fmt.Errorf("gitleaks rule %s: secretGroup %d but %d groups", gr.ID, gr.SecretGroup, re.NumSubexp())
		}
		run, err := guaranteedRun(gr.Regex)
		if err != nil {
			return nil, fmt.Errorf("could not analyse gitleaks rule %s: %w", gr.ID, err)
		}
		r := rule{id: gr.ID, re: re, secretGroup: gr.SecretGroup, entropy: gr.Entropy, run: run}
		if err := r.anchor(gr); err != nil {
			return nil, fmt.Errorf("could not analyse gitleaks rule %s: %w", gr.ID, err)
		}
		for _, a := range gr.Allowlists {
			al, ok, err := compileAllowlist(a)
			if err != nil {
				return nil, fmt.Errorf("could not compile an allowlist of gitleaks rule %s: %w", gr.ID, err)
			}
			if ok {
				r.allow = append(r.allow, al)
			}
		}
		idx := len(rs.rules)
		rs.rules = append(rs.rules, r)
		if len(gr.Keywords) == 0 {
			rs.always = append(rs.always, idx)
			continue
		}
		for _, k := range gr.Keywords {
			kws = append(kws, strings.ToLower(k))
			kwRule = append(kwRule, idx)
		}
	}
	rs.urlHit, rs.pemHit = len(rs.rules), len(rs.rules)+1
	kws = append(kws, "://", "-----begin")
	kwRule = append(kwRule, rs.urlHit, rs.pemHit)
	// The keywords of semi-generic rules are looked for where they end.
	rs.kw = newKeywords(kws, kwRule, len(rs.rules)+2, func(i int) bool { return i < len(rs.rules) && rs.rules[i].assign != nil })
	return rs, nil
}

// tomlDecode reads gitleaks' configuration format.
func tomlDecode(data []byte, v any) error { return toml.Unmarshal(data, v) }

func compileAllowlist(a gitleaksAllowlist) (allowlist, bool, error) {
	if strings.EqualFold(a.Condition, "AND") && (len(a.Paths) > 0 || len(a.Commits) > 0) {
		return allowlist{}, false, nil
	}
	if len(a.Regexes) == 0 && len(a.Stopwords) == 0 {
		return allowlist{}, false, nil
	}
	al := allowlist{target: a.RegexTarget}
	for _, s := range a.Regexes {
		re, err := regexp.Compile(s)
		if err != nil {
			return allowlist{}, false, err
		}
		al.regexes = append(al.regexes, re)
	}
	for _, w := range a.Stopwords {
		al.stopwords = append(al.stopwords, strings.ToLower(w))
	}
	return al, true, nil
}

// find appends the spans to mask that rule i finds in line.
func (rs *ruleSet) find(i int, line []byte, sc *scratch, dst []span) []span {
	r := &rs.rules[i]
	if r.assign != nil {
		return rs.findAssigned(i, line, sc.ends, dst)
	}
	sc.win = r.windows(line, sc, sc.win[:0])
	for _, w := range sc.win {
		dst = rs.findIn(r, line, w.start, w.end, dst)
	}
	return dst
}

// windows returns the parts of line a match of r can lie in, sorted and
// merged.
func (r *rule) windows(line []byte, sc *scratch, win []span) []span {
	switch {
	case r.prefixes != nil:
		for i, prefix := range r.prefixes {
			if r.folded[i] {
				win = r.prefixWindows(line, sc.lower(line), prefix, win)
			} else {
				win = r.prefixWindows(line, line, prefix, win)
			}
		}
	default:
		return append(win, span{0, len(line)})
	}
	return clip(win, 0)
}

// prefixWindows appends the windows around the occurrences of prefix in
// in (line itself, or line in lower case for a prefix in any case).
func (r *rule) prefixWindows(line, in, prefix []byte, win []span) []span {
	for off := 0; ; {
		i := bytes.Index(in[off:], prefix)
		if i < 0 {
			return win
		}
		p := off + i
		off = p + len(prefix)
		if r.boundary && p > 0 && isWordChar(line[p-1]) && isWordChar(line[p]) {
			continue
		}
		if r.minRun > 0 && !runAtLeast(line[p:], r.minRun) {
			continue
		}
		end := len(line)
		switch {
		case r.maxLen >= 0:
			end = min(len(line), p+r.maxLen+1)
		case r.prefixRun:
			end = p
			for end < len(line) && runChars[line[end]] {
				end++
			}
			end = min(len(line), end+3)
		}
		win = append(win, span{max(0, p-1), end})
	}
}

// findIn appends the findings of r in line[start:end].
func (rs *ruleSet) findIn(r *rule, line []byte, start, end int, dst []span) []span {
	win := line[start:end]
	for _, m := range r.re.FindAllSubmatchIndex(win, -1) {
		s, e := group(m, r.secretGroup)
		if s < 0 || e <= s {
			continue
		}
		if covered(dst, start+s, start+e) {
			continue // masked already: no need to judge it
		}
		secret := win[s:e]
		if r.entropy > 0 && shannon(secret) <= r.entropy {
			continue
		}
		if rs.allowed(r, secret, line, func() []byte { return win[m[0]:m[1]] }) {
			continue
		}
		dst = append(dst, span{start + s, start + e})
	}
	return dst
}

// allowed reports whether an allowlist keeps a finding; match returns the
// whole match, asked for only by an allowlist that judges it.
func (rs *ruleSet) allowed(r *rule, secret, line []byte, match func() []byte) bool {
	// The rule's own first: they are fewer and more often the ones that
	// allow (any one allowing is enough).
	for _, a := range r.allow {
		if a.allows(secret, line, match) {
			return true
		}
	}
	for _, a := range rs.global {
		if a.allows(secret, line, match) {
			return true
		}
	}
	return false
}

// covered reports whether [start, end) lies within one of spans.
func covered(spans []span, start, end int) bool {
	for _, sp := range spans {
		if sp.start <= start && end <= sp.end {
			return true
		}
	}
	return false
}

// shannon is the entropy of s in bits per byte, as gitleaks computes it
// (over runes; the secrets it judges are ASCII).
func shannon(s []byte) float64 {
	var counts [256]int
	for _, c := range s {
		counts[c]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

// runChars are the bytes a secret is made of, as far as the prefilter is
// concerned: everything printable but quotes and the punctuation that
// separates values in JSON, YAML, shells and prose (a backslash stays:
// some rules allow it in a key).
var runChars = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range "\"'`,;:{}[]()<>" {
		t[c] = false
	}
	return t
}()

// guaranteedRun returns a length that every match of the expression holds
// as one unbroken run of runChars (0 when it cannot say).
func guaranteedRun(expr string) (int, error) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return 0, err
	}
	return runsOf(re.Simplify()).best, nil
}

// runs describes the runChars runs that every match of a node holds: full
// when every byte it can match is a runChar, min the shortest match, pre and
// suf the guaranteed runs at its start and end, best the longest guaranteed
// run anywhere in it.
type runs struct {
	full                bool
	min, pre, suf, best int
}

func runsOf(re *syntax.Regexp) runs {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary:
		return runs{full: true}
	case syntax.OpLiteral:
		var r runs
		r.full = true
		cur := 0
		for i, c := range re.Rune {
			in := c < 0x80 && runChars[c]
			if re.Flags&syntax.FoldCase != 0 && c < 0x80 {
				in = in && runChars[foldASCII(c)]
			}
			if in {
				cur++
			} else {
				if r.full {
					r.pre = i
				}
				r.full = false
				cur = 0
			}
			r.best = max(r.best, cur)
		}
		r.min = len(re.Rune)
		r.suf = cur
		if r.full {
			r.pre = r.min
		}
		return r
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if lo == hi && (lo == '\u017f' || lo == '\u212a') {
				// (?i) folds s and k with the long s and the Kelvin sign: no
				// key is made of those.
				continue
			}
			if hi >= 0x80 {
				return runs{min: 1}
			}
			for c := lo; c <= hi; c++ {
				if !runChars[c] {
					return runs{min: 1}
				}
			}
		}
		return runs{full: true, min: 1, pre: 1, suf: 1, best: 1}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return runs{min: 1}
	case syntax.OpCapture:
		return runsOf(re.Sub[0])
	case syntax.OpStar, syntax.OpQuest:
		return runs{full: runsOf(re.Sub[0]).full}
	case syntax.OpPlus:
		return repeat(runsOf(re.Sub[0]), 1)
	case syntax.OpRepeat:
		if re.Min == 0 {
			return runs{full: runsOf(re.Sub[0]).full}
		}
		return repeat(runsOf(re.Sub[0]), re.Min)
	case syntax.OpConcat:
		r := runs{full: true}
		for _, sub := range re.Sub {
			r = concat(r, runsOf(sub))
		}
		return r
	case syntax.OpAlternate:
		r := runsOf(re.Sub[0])
		for _, sub := range re.Sub[1:] {
			o := runsOf(sub)
			r = runs{full: r.full && o.full, min: min(r.min, o.min), pre: min(r.pre, o.pre), suf: min(r.suf, o.suf), best: min(r.best, o.best)}
		}
		return r
	}
	return runs{}
}

func concat(a, b runs) runs {
	r := runs{full: a.full && b.full, min: a.min + b.min, pre: a.pre, suf: b.suf}
	if a.full {
		r.pre = a.min + b.pre
	}
	if b.full {
		r.suf = a.suf + b.min
	}
	r.best = max(a.best, b.best, a.suf+b.pre, r.pre, r.suf)
	return r
}

func repeat(x runs, n int) runs {
	if x.full {
		m := x.min * n
		return runs{full: true, min: m, pre: m, suf: m, best: m}
	}
	r := x
	for i := 1; i < n && i < 64; i++ {
		r = concat(r, x)
	}
	return r
}

func foldASCII(c rune) rune {
	switch {
	case c >= 'a' && c <= 'z':
		return c - 'a' + 'A'
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 'a'
	}
	return c
}

// anchor finds where r's matches can be: a literal prefix, or a keyword
// assigned a value; and how long a match can be.
func (r *rule) anchor(gr gitleaksRule) error {
	re, err := syntax.Parse(gr.Regex, syntax.Perl)
	if err != nil {
		return err
	}
	re = re.Simplify()
	r.maxLen = maxLen(re)
	if ps, group, boundary := literalPrefixes(re, nil, false); ps != nil {
		for _, p := range ps {
			if p.fold {
				r.prefixes = append(r.prefixes, []byte(strings.ToLower(p.s)))
			} else {
				r.prefixes = append(r.prefixes, []byte(p.s))
			}
			r.folded = append(r.folded, p.fold)
		}
		r.boundary = boundary
		if group != nil {
			if g := runsOf(group); g.full {
				r.minRun = g.min
				// The group that starts with the prefix is the key; what
				// follows it is a character or two of context.
				r.prefixRun = group == lastCapture(re)
			}
		}
		return nil
	}
	a, err := newAssignment(gr, r.re.NumSubexp())
	if err != nil {
		return err
	}
	r.assign = a
	return nil
}

// maxLen is the longest match of re in bytes (-1: unbounded).
func maxLen(re *syntax.Regexp) int {
	switch re.Op {
	case syntax.OpLiteral:
		n := 0
		for _, c := range re.Rune {
			n += utf8.RuneLen(c)
		}
		return n
	case syntax.OpCharClass:
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi >= utf8.RuneSelf && !(lo == hi && (lo == '\u017f' || lo == '\u212a')) {
				return utf8.UTFMax
			}
		}
		// ASCII, or what (?i) adds to s and k: one byte for what a key is
		// made of.
		return 1
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		return utf8.UTFMax
	case syntax.OpCapture, syntax.OpQuest:
		return maxLen(re.Sub[0])
	case syntax.OpStar, syntax.OpPlus:
		return -1
	case syntax.OpRepeat:
		m := maxLen(re.Sub[0])
		if re.Max < 0 || m < 0 {
			return -1
		}
		return m * re.Max
	case syntax.OpConcat:
		n := 0
		for _, sub := range re.Sub {
			m := maxLen(sub)
			if m < 0 {
				return -1
			}
			n += m
		}
		return n
	case syntax.OpAlternate:
		n := 0
		for _, sub := range re.Sub {
			m := maxLen(sub)
			if m < 0 {
				return -1
			}
			n = max(n, m)
		}
		return n
	}
	return 0
}

// literal is a literal prefix of an expression; fold is set when it
// matches in any case.
type literal struct {
	s    string
	fold bool
}

// literalPrefixes are literals of which every match of re starts with one
// (nil if none, or one is shorter than 2 bytes), the outermost capture
// group that starts with them (nil if none), and whether a word boundary
// (\b) comes before them.
func literalPrefixes(re, group *syntax.Regexp, boundary bool) ([]literal, *syntax.Regexp, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) < 2 {
			return nil, nil, false
		}
		return []literal{{string(re.Rune), re.Flags&syntax.FoldCase != 0}}, group, boundary
	case syntax.OpCapture:
		if group == nil {
			group = re
		}
		return literalPrefixes(re.Sub[0], group, boundary)
	case syntax.OpAlternate:
		var all []literal
		for _, sub := range re.Sub {
			ps, _, _ := literalPrefixes(sub, nil, false)
			if ps == nil {
				return nil, nil, false
			}
			all = append(all, ps...)
		}
		return all, group, boundary
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			switch sub.Op {
			case syntax.OpWordBoundary:
				boundary = true
				continue
			case syntax.OpBeginText, syntax.OpBeginLine, syntax.OpNoWordBoundary, syntax.OpEmptyMatch:
				continue
			}
			return literalPrefixes(sub, group, boundary)
		}
	}
	return nil, nil, false
}

// isWordChar is what \b takes for a word character.
func isWordChar(c byte) bool { return c == '_' || isAlnum(c) }

// runAtLeast reports whether s starts with n runChars.
func runAtLeast(s []byte, n int) bool {
	if len(s) < n {
		return false
	}
	for _, c := range s[:n] {
		if !runChars[c] {
			return false
		}
	}
	return true
}

// lastCapture is the last capture group of re, nil if none.
func lastCapture(re *syntax.Regexp) *syntax.Regexp {
	var last *syntax.Regexp
	var walk func(*syntax.Regexp)
	walk = func(n *syntax.Regexp) {
		if n.Op == syntax.OpCapture && (last == nil || n.Cap > last.Cap) {
			last = n
		}
		for _, sub := range n.Sub {
			walk(sub)
		}
	}
	walk(re)
	return last
}
