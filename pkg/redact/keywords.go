package redact

import "fmt"

// keywords finds, in one pass over a line, which rules have one of their
// keywords in it (ASCII case-insensitively), as gitleaks prefilters its
// rules. It is an Aho-Corasick automaton compiled to a full DFA over byte
// classes: one table lookup per byte and no allocation, because two-letter
// keywords ("ey", "sk") hit on almost every line and a matcher that returns
// its matches would allocate for each.
type keywords struct {
	// class maps a byte to its column (bytes in no keyword share column 0;
	// upper case shares the column of lower case).
	class [256]uint8
	// next is the transition table: next[state<<classBits|class] is the
	// next state (16 bits keep it within the caches; a fixed size spares
	// the bounds check of each step). States with an output are numbered
	// last, from firstOut on, and of those the ones whose places scan
	// notes last of all, from firstRecord on.
	next                  *[tableSize]uint16
	firstOut, firstRecord uint16
	// masks[state-firstOut] are the rules whose keywords end at state.
	masks []ruleMask
}

// classBits is log2 of the table's row width: a power of two, so that a
// row is found by a shift.
const classBits = 6

// The automaton's bounds: states (rows of the table) and states with an
// output. gitleaks' rules make about 1,250 and 300.
const (
	maxStates    = 1 << 12
	tableSize    = maxStates << classBits
	maxOutStates = 1 << 10
)

// maxRules bounds the rule set (gitleaks has about 220), so that a set of
// rules is a small array.
const maxRules = 256

// ruleMask is a set of rule indexes.
type ruleMask [maxRules / 64]uint64

func (m *ruleMask) or(o *ruleMask) {
	for i := range m {
		m[i] |= o[i]
	}
}

func (m *ruleMask) has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

func (m *ruleMask) add(i int) { m[i/64] |= 1 << (i % 64) }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newKeywords builds the automaton: words[i] (lower case) selects rule
// ruleOf[i] of nrules; scan notes where the keywords of the rules that
// record says end.
func newKeywords(words []string, ruleOf []int, nrules int, record func(rule int) bool) *keywords {
	if nrules > maxRules {
		panic(fmt.Sprintf("redact: %d rules (at most %d)", nrules, maxRules))
	}
	k := &keywords{}
	nclass := 1
	for _, w := range words {
		for i := 0; i < len(w); i++ {
			c := w[i]
			if k.class[c] == 0 {
				if nclass == 1<<classBits {
					panic("redact: too many distinct characters in the keywords")
				}
				k.class[c] = uint8(nclass)
				nclass++
			}
		}
	}
	for c := 'A'; c <= 'Z'; c++ {
		k.class[c] = k.class[c-'A'+'a']
	}
	// The trie: goto[state][class], -1 for none.
	type node struct {
		next []int
		fail int
		mask *ruleMask
	}
	newNode := func() node {
		n := node{next: make([]int, nclass)}
		for i := range n.next {
			n.next[i] = -1
		}
		return n
	}
	nodes := []node{newNode()}
	for wi, w := range words {
		s := 0
		for i := 0; i < len(w); i++ {
			c := k.class[w[i]]
			if nodes[s].next[c] < 0 {
				nodes[s].next[c] = len(nodes)
				nodes = append(nodes, newNode())
			}
			s = nodes[s].next[c]
		}
		if nodes[s].mask == nil {
			nodes[s].mask = new(ruleMask)
		}
		nodes[s].mask.add(ruleOf[wi])
	}
	// Breadth first: fail links, full transitions, outputs merged along the
	// fail links.
	queue := []int{}
	for c := 0; c < nclass; c++ {
		if t := nodes[0].next[c]; t >= 0 {
			nodes[t].fail = 0
			queue = append(queue, t)
		} else {
			nodes[0].next[c] = 0
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if f := nodes[s].fail; nodes[f].mask != nil {
			if nodes[s].mask == nil {
				nodes[s].mask = new(ruleMask)
			}
			nodes[s].mask.or(nodes[f].mask)
		}
		for c := 0; c < nclass; c++ {
			t := nodes[s].next[c]
			if t < 0 {
				nodes[s].next[c] = nodes[nodes[s].fail].next[c]
				continue
			}
			nodes[t].fail = nodes[nodes[s].fail].next[c]
			queue = append(queue, t)
		}
	}
	// Number the states without an output first, then those with one, and
	// the ones scan notes last.
	recorded := func(m *ruleMask) bool {
		for i := range nrules {
			if m.has(i) && record(i) {
				return true
			}
		}
		return false
	}
	var order []int
	for pass := range 3 {
		for s, n := range nodes {
			switch {
			case pass == 0 && n.mask == nil,
				pass == 1 && n.mask != nil && !recorded(n.mask),
				pass == 2 && n.mask != nil && recorded(n.mask):
				order = append(order, s)
				if n.mask != nil {
					k.masks = append(k.masks, *n.mask)
				}
			}
		}
		switch pass {
		case 0:
			k.firstOut = uint16(len(order))
		case 1:
			k.firstRecord = uint16(len(order))
		}
	}
	if len(nodes) > maxStates || len(k.masks) > maxOutStates {
		panic(fmt.Sprintf("redact: the keywords make %d states, %d with an output (at most %d, %d)", len(nodes), len(k.masks), maxStates, maxOutStates))
	}
	number := make([]uint16, len(nodes))
	for i, s := range order {
		number[s] = uint16(i)
	}
	k.next = new([tableSize]uint16)
	for i, s := range order {
		for c, t := range nodes[s].next {
			k.next[i<<classBits|c] = number[t]
		}
	}
	return k
}

// hit is where a keyword ends (the index of its last byte) and the index
// in masks of the rules it selects.
type hit struct {
	end int32
	out uint16
}

// scan adds to hits the rules whose keywords occur in s, appends to ends
// where the keywords of the recorded rules end, and returns the length of
// the longest run of runChars in s (the same pass over it).
func (k *keywords) scan(s []byte, hits *ruleMask, ends []hit) ([]hit, int) {
	var st uint16
	best, cur := 0, 0
	for i := 0; ; i++ {
		i, st, cur, best = k.advance(s, i, st, cur, best)
		if i >= len(s) {
			return ends, best
		}
		o := st - k.firstOut
		hits.or(&k.masks[o])
		if st >= k.firstRecord {
			ends = append(ends, hit{int32(i), o})
		}
	}
}

// advance runs the automaton over s from s[i] on, in state st with the
// current and longest runs cur and best, until it reaches a state with an
// output (at the byte it returns the index of) or the end of s (len(s)).
// It is kept apart from scan, and out of line, so that nothing in its loop
// calls: its state then stays in registers (twice as fast).
//
//go:noinline
func (k *keywords) advance(s []byte, i int, st uint16, cur, best int) (int, uint16, int, int) {
	next, class, out := k.next, &k.class, k.firstOut
	for ; i < len(s); i++ {
		c := s[i]
		st = next[(uint32(st)<<classBits|uint32(class[c]))&(tableSize-1)]
		cur = (cur + 1) & runMask[c]
		best = max(best, cur)
		if st >= out {
			return i, st, cur, best
		}
	}
	return i, st, cur, best
}

// runMask is all ones for runChars, zero for the others.
var runMask = func() (t [256]int) {
	for c := range t {
		if runChars[c] {
			t[c] = -1
		}
	}
	return t
}()
