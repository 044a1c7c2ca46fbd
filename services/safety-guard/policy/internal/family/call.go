package family

// Call is one simple command as the rules see it, after the walker expanded
// its words and peeled the wrappers around it.
type Call struct {
	Args []Field
	// Env holds assignments in the command's environment: prefix assignments,
	// env NAME=value, set -k keywords.
	Env []EnvAssign
	// Cwd is where the command runs ("" when unknown); wrappers like env -C move it.
	Cwd   string
	Stdin *Stdin
	// Seg is the command's source text, the segment a finding names.
	Seg string
	// Carrier is "xargs" or "parallel" when some arguments come from their input.
	Carrier string
	// InputValues are the carrier's input words when the producer is known,
	// used only by secret protection.
	InputValues []string
	// Shell is the shell state the command runs in.
	Shell Shell
	// LookupOnly is true for command -v/-V: the command is not run, but its
	// destructive shape is still judged.
	LookupOnly bool
	// Peeled counts wrappers removed so far, to bound pathological chains.
	Peeled int
}

// Shell is the shell state a command runs in, as far as rules read it.
type Shell interface {
	// Vars are the shell variables the command sees; rules only read them.
	Vars() map[string]Var
	// Depth is how deeply the command is nested in code handed to shells.
	Depth() int
}

// EnvValue returns the value the command's own environment assigns to name.
func (c *Call) EnvValue(name string) (Field, bool) {
	for i := len(c.Env) - 1; i >= 0; i-- {
		if c.Env[i].Name == name {
			return c.Env[i].Val, true
		}
	}
	return Field{}, false
}
