package redact

import (
	"bytes"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
)

// gitleaks writes its generic rule and most vendor rules as "semi-generic":
//
//	[\w.-]{0,50}?(?:IDENTIFIER)(?:[ \t\w.-]{0,20})[\s'"]{0,3}OPERATOR[\x60'"\s=]{0,5}(VALUE)(?:[\x60'"\s;]|\\[nr]|$)
//
// Go's regexp has no DFA: with their bounded repetitions these compile to
// thousands of instructions, and one of them costs about half a
// microsecond per byte of a JSON line. So such a rule is matched in parts,
// only where it can match: at an operator that follows one of its keywords
// (which the identifier holds), the identifier is checked backwards from
// the operator and the value forwards from it, each by the rule's own
// expression cut at the operator.
const (
	semiOperator = `(?:=|>|:{1,3}=|\|\||:|=>|\?=|,)`
	semiLead     = `[\w.-]{0,50}?`
	semiGap      = `(?:[ \t\w.-]{0,20})[\s'"]{0,3}`
)

// assignment is a semi-generic rule cut at its operator.
type assignment struct {
	// ident matches the identifier and the gap, ending at the operator;
	// identMax bounds how far before the operator it starts. When the
	// identifier is one of a few words (idents, lower case), they are
	// compared instead.
	ident    *regexp.Regexp
	identMax int
	idents   []string
	// value matches from the operator on; group is the secret's group in
	// it (0: the first that matched, as gitleaks does).
	value *regexp.Regexp
	group int
	// valueMax bounds value's match (-1: unbounded); when the value is one
	// run of runChars (run), minValue is its least length and an unbounded
	// match ends where the run does.
	valueMax int
	run      bool
	minValue int
}

// newAssignment cuts a semi-generic rule at its operator; nil when the rule
// is not one, or when its identifier can match without holding one of its
// keywords (then the candidates could not be found by keyword).
func newAssignment(gr gitleaksRule, groups int) (*assignment, error) {
	i := strings.Index(gr.Regex, semiOperator)
	if i < 0 || strings.Count(gr.Regex, semiOperator) != 1 || !strings.HasSuffix(strings.TrimSuffix(gr.Regex[:i], ")"), semiGap) {
		return nil, nil
	}
	head, tail := gr.Regex[:i], gr.Regex[i:]
	flags := ""
	if strings.HasPrefix(head, "(?i)") {
		flags = "(?i)"
	}
	identSrc := strings.ReplaceAll(head, semiLead, "")
	ident, err := regexp.Compile(identSrc + `\z`)
	if err != nil {
		return nil, fmt.Errorf("could not compile its identifier: %w", err)
	}
	value, err := regexp.Compile(flags + `\A` + tail)
	if err != nil {
		return nil, fmt.Errorf("could not compile its value: %w", err)
	}
	a := &assignment{ident: ident, value: value}
	headGroups := groups - value.NumSubexp()
	switch {
	case gr.SecretGroup == 0 && headGroups > 0:
		return nil, nil // the first group that matched may be in the identifier
	case gr.SecretGroup > 0:
		a.group = gr.SecretGroup - headGroups
		if a.group < 1 {
			return nil, nil
		}
	}
	identRe, err := syntax.Parse(identSrc, syntax.Perl)
	if err != nil {
		return nil, err
	}
	identRe = identRe.Simplify()
	var kws []string
	for _, k := range gr.Keywords {
		kws = append(kws, strings.ToLower(k))
	}
	if !anchored(identRe, kws) {
		return nil, nil
	}
	if a.identMax = maxLen(identRe); a.identMax < 0 {
		return nil, nil
	}
	if words, err := syntax.Parse(strings.Replace(identSrc, semiGap, "", 1), syntax.Perl); err == nil {
		if set, ok := exactSet(words.Simplify()); ok && !containsString(set, "") {
			a.idents = set
		}
	}
	valueRe, err := syntax.Parse(flags+tail, syntax.Perl)
	if err != nil {
		return nil, err
	}
	valueRe = valueRe.Simplify()
	a.valueMax = maxLen(valueRe)
	if g := lastCapture(valueRe); g != nil && (a.group == 0 && value.NumSubexp() == 1 || a.group == g.Cap) {
		if v := runsOf(g); v.full {
			a.run, a.minValue = true, v.min
		}
	}
	if a.valueMax < 0 && !a.run {
		return nil, nil
	}
	return a, nil
}

// findAssigned appends the findings of a semi-generic rule in line.
func (rs *ruleSet) findAssigned(i int, line []byte, ends []hit, dst []span) []span {
	r := &rs.rules[i]
	a := r.assign
	var seen [16]int
	if n := rs.candidates(i, line, ends, seen[:0], nil); n > maxCandidates {
		// So many that judging each costs more than the whole expression
		// once (key=key=key=...): that, over the whole line.
		return rs.findIn(r, line, 0, len(line), dst)
	}
	rs.candidates(i, line, ends, seen[:0], func(op int) {
		vs, ve := valueSpan(line, op)
		if a.run && ve-vs < a.minValue {
			return
		}
		from := max(0, op-a.identMax)
		identStart := a.identBefore(line, from, op)
		if identStart < 0 {
			return
		}
		end := len(line)
		switch {
		case a.valueMax >= 0:
			end = min(len(line), op+a.valueMax)
		case a.run:
			end = min(len(line), ve+3, vs+maxValue)
		}
		m := a.value.FindSubmatchIndex(line[op:end])
		if m == nil {
			return
		}
		s, e := group(m, a.group)
		if s < 0 {
			return
		}
		if covered(dst, op+s, op+e) {
			return // masked already: no need to judge it
		}
		secret := line[op+s : op+e]
		if r.entropy > 0 && shannon(secret) <= r.entropy {
			return
		}
		whole := func() []byte {
			// The whole match: gitleaks' lazy [\w.-]{0,50}? makes it start
			// at the run of word characters before the identifier.
			start := identStart
			for n := 0; start > 0 && n < 50 && leadChar(line[start-1]); n++ {
				start--
			}
			return line[start : op+m[1]]
		}
		if rs.allowed(r, secret, line, whole) {
			return
		}
		dst = append(dst, span{op + s, op + e})
	})
	return dst
}

// group is the span of the secret in a match m: group g, or when g is 0
// the first group that matched something, else the whole match (as
// gitleaks takes it).
func group(m []int, g int) (int, int) {
	if g > 0 {
		return m[2*g], m[2*g+1]
	}
	for g := 1; 2*g+1 < len(m); g++ {
		if m[2*g] >= 0 && m[2*g+1] > m[2*g] {
			return m[2*g], m[2*g+1]
		}
	}
	return m[0], m[1]
}

// identBefore returns where the identifier and gap that end at the
// operator op start (-1: none); from bounds how far back.
func (a *assignment) identBefore(line []byte, from, op int) int {
	if a.idents == nil {
		loc := a.ident.FindIndex(line[from:op])
		if loc == nil {
			return -1
		}
		return from + loc[0]
	}
	// The gap: up to 20 of [ \t\w.-], then up to 3 blanks or quotes.
	tb := op
	for tb > from && op-tb < 3 && gapChars[line[tb-1]] {
		tb--
	}
	for q := op; q >= from && op-q <= 23; q-- {
		// line[q:t] is the first part of the gap, line[t:op] the second.
		aEnd := q
		for aEnd < op && aEnd-q < 20 && identChar(line[aEnd]) {
			aEnd++
		}
		if max(q, tb) > aEnd {
			continue
		}
		for _, w := range a.idents {
			if q-len(w) >= from && bytes.EqualFold(line[q-len(w):q], []byte(w)) {
				return q - len(w)
			}
		}
	}
	return -1
}

// candidates calls f, if set, with each operator that follows a keyword of
// rule i (ends are where the keywords of the line end); it returns how
// many there are, counting up to maxCandidates+1.
func (rs *ruleSet) candidates(i int, line []byte, ends []hit, seen []int, f func(op int)) int {
	seen = seen[:0]
	for _, h := range ends {
		if !rs.kw.masks[h.out].has(i) {
			continue
		}
		op, ok := assignmentAfter(line, int(h.end)+1)
		if !ok || contains(seen, op) {
			continue
		}
		seen = append(seen, op)
		if len(seen) > maxCandidates {
			break
		}
		if f != nil {
			f(op)
		}
	}
	return len(seen)
}

// maxCandidates bounds the assignments of one rule judged one by one in a
// line; maxValue bounds the value of one (a longer run is a blob, not a
// key: its first maxValue bytes are judged).
const (
	maxCandidates = 64
	maxValue      = 4 << 10
)

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// assignmentAfter reports whether the keyword ending at i is followed by an
// operator as the semi-generic rules write it: the rest of the identifier
// and the gap ([ \t\w.-], then up to 3 blanks or quotes), then an operator;
// it returns where the operator is.
func assignmentAfter(line []byte, i int) (int, bool) {
	for n := 0; i < len(line) && n < 64 && identChar(line[i]); n++ {
		i++
	}
	for n := 0; i < len(line) && n < 3 && gapChars[line[i]]; n++ {
		i++
	}
	if i < len(line) && operatorChars[line[i]] {
		return i, true
	}
	return 0, false
}

// operatorChars start an operator; gapChars are the blanks and quotes
// between an identifier and its operator.
var operatorChars, gapChars = byteSet("=>:|?,"), byteSet(" \t\v\f'\"")

func byteSet(s string) (t [256]bool) {
	for i := 0; i < len(s); i++ {
		t[s[i]] = true
	}
	return t
}

func leadChar(c byte) bool { return c == '.' || c == '-' || c == '_' || isAlnum(c) }

func identChar(c byte) bool {
	return c == ' ' || c == '\t' || c == '.' || c == '-' || c == '_' || isAlnum(c)
}

// valueSpan is where the value after the operator at op is: past the
// operator and up to 5 quotes or blanks, its run of runChars (an '=' the
// rule may skip stays in it: the span is never shorter than the value).
func valueSpan(line []byte, op int) (int, int) {
	i := op
	for n := 0; i < len(line) && n < 4 && operatorChars[line[i]]; n++ {
		i++
	}
	for n := 0; i < len(line) && n < 5 && (gapChars[line[i]] || line[i] == '`'); n++ {
		i++
	}
	start := i
	for i < len(line) && runChars[line[i]] {
		i++
	}
	return start, i
}

// anchored reports whether every match of re holds one of the keywords
// (lower case), case-insensitively.
func anchored(re *syntax.Regexp, kws []string) bool {
	if set, ok := exactSet(re); ok {
		for _, s := range set {
			if !holdsAny(s, kws) {
				return false
			}
		}
		return true
	}
	switch re.Op {
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if anchored(sub, kws) {
				return true
			}
		}
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if !anchored(sub, kws) {
				return false
			}
		}
		return true
	case syntax.OpCapture, syntax.OpPlus:
		return anchored(re.Sub[0], kws)
	case syntax.OpRepeat:
		return re.Min > 0 && anchored(re.Sub[0], kws)
	}
	return false
}

func holdsAny(s string, kws []string) bool {
	for _, k := range kws {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// exactSet is every string re matches, in lower case, when they are few.
func exactSet(re *syntax.Regexp) ([]string, bool) {
	const most = 256
	switch re.Op {
	case syntax.OpEmptyMatch:
		return []string{""}, true
	case syntax.OpLiteral:
		return []string{strings.ToLower(string(re.Rune))}, true
	case syntax.OpCharClass:
		var out []string
		for i := 0; i+1 < len(re.Rune); i += 2 {
			for c := re.Rune[i]; c <= re.Rune[i+1]; c++ {
				if len(out) >= 8 {
					return nil, false
				}
				s := strings.ToLower(string(c))
				if !containsString(out, s) {
					out = append(out, s)
				}
			}
		}
		return out, true
	case syntax.OpCapture:
		return exactSet(re.Sub[0])
	case syntax.OpQuest:
		s, ok := exactSet(re.Sub[0])
		return append(s, ""), ok
	case syntax.OpAlternate:
		var out []string
		for _, sub := range re.Sub {
			s, ok := exactSet(sub)
			if !ok || len(out)+len(s) > most {
				return nil, false
			}
			out = append(out, s...)
		}
		return out, true
	case syntax.OpConcat:
		out := []string{""}
		for _, sub := range re.Sub {
			s, ok := exactSet(sub)
			if !ok || len(out)*len(s) > most {
				return nil, false
			}
			next := make([]string, 0, len(out)*len(s))
			for _, a := range out {
				for _, b := range s {
					next = append(next, a+b)
				}
			}
			out = next
		}
		return out, true
	}
	return nil, false
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
