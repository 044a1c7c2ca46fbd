package policy

import (
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// hasBraceCandidate is a cheap pre-check for brace expansion: an unquoted
// literal with both braces.
func hasBraceCandidate(w *syntax.Word) bool {
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.Contains(l.Value, "{") && strings.Contains(l.Value, "}") {
			return true
		}
	}
	return false
}

// expandBraces performs bash brace expansion on w and returns the resulting
// words, w itself when there is nothing to expand, or nil when the expansion
// would produce more than limit words.
func expandBraces(w *syntax.Word, limit int) []*syntax.Word {
	// SplitBraces rewrites the word in place; work on a copy of the part list.
	cp := &syntax.Word{Parts: append([]syntax.WordPart(nil), w.Parts...)}
	if !syntax.SplitBraces(cp) {
		return []*syntax.Word{w}
	}
	alts := expandParts(cp.Parts, limit)
	if alts == nil {
		return nil
	}
	out := make([]*syntax.Word, len(alts))
	for i, a := range alts {
		out[i] = &syntax.Word{Parts: a}
	}
	return out
}

// expandParts expands the brace expressions among parts, nested ones included.
func expandParts(parts []syntax.WordPart, limit int) [][]syntax.WordPart {
	out := [][]syntax.WordPart{nil}
	for _, p := range parts {
		be, ok := p.(*syntax.BraceExp)
		if !ok {
			for i := range out {
				out[i] = append(out[i], p)
			}
			continue
		}
		alts := braceAlternatives(be, limit)
		if alts == nil {
			return nil
		}
		var expanded [][]syntax.WordPart
		for _, a := range alts {
			sub := expandParts(a.Parts, limit)
			if sub == nil {
				return nil
			}
			expanded = append(expanded, sub...)
		}
		if len(expanded)*len(out) > limit {
			return nil
		}
		var next [][]syntax.WordPart
		for _, o := range out {
			for _, e := range expanded {
				next = append(next, append(append([]syntax.WordPart(nil), o...), e...))
			}
		}
		out = next
	}
	return out
}

func braceAlternatives(be *syntax.BraceExp, limit int) []*syntax.Word {
	if !be.Sequence {
		return be.Elems
	}
	if len(be.Elems) < 2 {
		return nil
	}
	from, to := be.Elems[0].Lit(), be.Elems[1].Lit()
	incr := 1
	if len(be.Elems) > 2 {
		n, err := strconv.Atoi(be.Elems[2].Lit())
		if err != nil || n == 0 {
			return nil
		}
		if n < 0 {
			n = -n
		}
		incr = n
	}
	mk := func(s string) *syntax.Word { return &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: s}}} }
	if a, err1 := strconv.Atoi(from); err1 == nil {
		b, err2 := strconv.Atoi(to)
		if err2 != nil {
			return nil
		}
		var out []*syntax.Word
		step := incr
		if b < a {
			step = -incr
		}
		for i := a; (step > 0 && i <= b) || (step < 0 && i >= b); i += step {
			if len(out) >= limit {
				return nil
			}
			out = append(out, mk(strconv.Itoa(i)))
		}
		return out
	}
	if len(from) == 1 && len(to) == 1 {
		a, b := int(from[0]), int(to[0])
		var out []*syntax.Word
		step := incr
		if b < a {
			step = -incr
		}
		for i := a; (step > 0 && i <= b) || (step < 0 && i >= b); i += step {
			if len(out) >= limit {
				return nil
			}
			out = append(out, mk(string(rune(i))))
		}
		return out
	}
	return nil
}
