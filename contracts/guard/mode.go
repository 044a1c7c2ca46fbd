package guard

import (
	"fmt"
	"strings"
)

// Mode selects how strict the engine is. Modes are flags and combine.
type Mode uint8

const (
	// ModeStrict denies input the engine cannot parse and values it cannot
	// resolve in guarded positions, instead of judging them on a best-effort basis.
	ModeStrict Mode = 1 << iota
	// ModeParanoidRm denies rm -rf even inside the working directory (temp
	// directories stay allowed).
	ModeParanoidRm
	// ModeParanoidInterpreters denies every interpreter one-liner (python -c,
	// node -e, ...), whatever its code.
	ModeParanoidInterpreters
	// ModeWorktree relaxes the git rules that only discard local changes when the
	// command runs inside a verified linked git worktree.
	ModeWorktree
)

// ModeDefault is the zero Mode: the standard rules, best-effort on unparsable input.
const ModeDefault Mode = 0

// ModeParanoid is ModeParanoidRm and ModeParanoidInterpreters together.
const ModeParanoid = ModeParanoidRm | ModeParanoidInterpreters

// modeNames is the immutable vocabulary of ParseMode, in the order String uses.
var modeNames = []struct {
	name string
	mode Mode
}{
	{"strict", ModeStrict},
	{"paranoid", ModeParanoid},
	{"paranoid_rm", ModeParanoidRm},
	{"paranoid_interpreters", ModeParanoidInterpreters},
	{"worktree", ModeWorktree},
}

const allowedModes = `"default", "strict", "paranoid", "paranoid_rm", "paranoid_interpreters", "worktree", or a "+"-joined combination such as "strict+paranoid"`

// ParseMode reads a mode such as "default", "strict", "paranoid_rm" or a
// "+"-joined combination like "strict+paranoid". Names are case-insensitive and
// "-" may stand for "_".
func ParseMode(s string) (Mode, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("could not parse mode: empty; allowed values are %s", allowedModes)
	}
	var m Mode
	for _, part := range strings.Split(s, "+") {
		name := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(part)), "-", "_")
		if name == "default" || name == "standard" {
			continue
		}
		found := false
		for _, n := range modeNames {
			if n.name == name {
				m |= n.mode
				found = true
				break
			}
		}
		if !found {
			return 0, fmt.Errorf("could not parse mode %q: unknown value %q; allowed values are %s", s, part, allowedModes)
		}
	}
	return m, nil
}

// String renders the mode in the syntax ParseMode reads.
func (m Mode) String() string {
	if m == 0 {
		return "default"
	}
	var parts []string
	rest := m
	for _, n := range modeNames {
		if rest&n.mode == n.mode && n.mode != 0 {
			parts = append(parts, n.name)
			rest &^= n.mode
		}
	}
	if rest != 0 {
		parts = append(parts, fmt.Sprintf("0x%x", uint8(rest)))
	}
	return strings.Join(parts, "+")
}

// Has reports whether all flags of f are set in m.
func (m Mode) Has(f Mode) bool { return m&f == f }
