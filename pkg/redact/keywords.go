package redact

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
	// next state (16 bits keep it within the caches). States with an
	// output are numbered last, from firstOut on.
	next     []uint16
	firstOut uint16
	// masks[state-firstOut] are the rules whose keywords end at state;
	// where record[state-firstOut] is set, scan also notes where.
	masks  []ruleMask
	record []bool
	words  int // 64-bit words of a ruleMask
}

// classBits is log2 of the table's row width: a power of two, so that a
// row is found by a shift.
const classBits = 6

// ruleMask is a set of rule indexes.
type ruleMask []uint64

func (m ruleMask) or(o ruleMask) {
	for i := range m {
		m[i] |= o[i]
	}
}

func (m ruleMask) has(i int) bool { return m[i/64]&(1<<(i%64)) != 0 }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// newKeywords builds the automaton: words[i] (lower case) selects rule
// ruleOf[i] of nrules.
func newKeywords(words []string, ruleOf []int, nrules int) *keywords {
	k := &keywords{words: (nrules + 63) / 64}
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
		mask ruleMask
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
			nodes[s].mask = make(ruleMask, k.words)
		}
		r := ruleOf[wi]
		nodes[s].mask[r/64] |= 1 << (r % 64)
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
				nodes[s].mask = make(ruleMask, k.words)
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
	// Number the states with an output last.
	order := make([]int, 0, len(nodes))
	for s, n := range nodes {
		if n.mask == nil {
			order = append(order, s)
		}
	}
	if len(nodes) > 1<<16 {
		panic("redact: too many keyword states")
	}
	k.firstOut = uint16(len(order))
	for s, n := range nodes {
		if n.mask != nil {
			order = append(order, s)
			k.masks = append(k.masks, n.mask)
		}
	}
	number := make([]uint16, len(nodes))
	for i, s := range order {
		number[s] = uint16(i)
	}
	k.record = make([]bool, len(k.masks))
	k.next = make([]uint16, len(nodes)<<classBits)
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
// the keywords of the states marked to record, and returns the length of
// the longest run of runChars in s (the same pass over it).
func (k *keywords) scan(s []byte, hits ruleMask, ends []hit) ([]hit, int) {
	var st uint16
	next, class := k.next, &k.class
	out := k.firstOut
	best, cur := 0, 0
	for i, c := range s {
		st = next[uint32(st)<<classBits|uint32(class[c])]
		if st >= out {
			o := st - out
			hits.or(k.masks[o])
			if k.record[o] {
				ends = append(ends, hit{int32(i), uint16(o)})
			}
		}
		cur = (cur + 1) & runMask[c]
		best = max(best, cur)
	}
	return ends, best
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
