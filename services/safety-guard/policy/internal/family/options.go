package family

import "strings"

// OptSpec describes a wrapper's options: which take a value, and whether
// option parsing stops at the first operand.
type OptSpec struct {
	// WithValue lists options that consume a value ("-u", "--user").
	WithValue map[string]bool
	// ShortWithValue lists short option letters that take a value, attached
	// ("-uroot") or separate.
	ShortWithValue string
}

// SkipOptions returns the index of the first operand after the options of a
// wrapper, honouring "--" and options that take a value.
func SkipOptions(args []Field, from int, spec OptSpec) int {
	i := from
	for i < len(args) {
		a := args[i].Val
		switch {
		case a == "--":
			return i + 1
		case strings.HasPrefix(a, "--"):
			if strings.Contains(a, "=") {
				// --name=value carries its value.
				i++
				continue
			}
			if spec.WithValue[a] {
				i += 2
				continue
			}
			i++
		case len(a) > 1 && a[0] == '-':
			// Short options, possibly clustered; a value option consumes the rest
			// of the word or the next word.
			consumed := false
			for j := 1; j < len(a); j++ {
				if strings.IndexByte(spec.ShortWithValue, a[j]) >= 0 {
					if j == len(a)-1 {
						i++
					}
					consumed = true
					break
				}
			}
			_ = consumed
			i++
		default:
			return i
		}
	}
	return i
}
