package family

// Var is what the engine knows about one shell variable at a point of the
// script.
type Var struct {
	Val      string
	Known    bool // the value is known
	Set      bool // the variable is set (meaningful when known)
	Exported bool
	// FromScript marks values assigned by the command itself rather than
	// inherited; strict mode treats command names built from them as dynamic.
	FromScript bool
	// Input marks values controlled by xargs or parallel input.
	Input bool
	// Hint is a best-effort value for secret scanning when the value is unknown.
	Hint string
}

// EnvAssign is one variable in a command's environment.
type EnvAssign struct {
	Name string
	Val  Field
}

// Stdin describes what a command reads on standard input.
type Stdin struct {
	Kind  StdinKind
	Text  string // content when known
	Known bool
	// Quoted is true for a heredoc whose delimiter is quoted (no expansion).
	Quoted bool
	// Producer is the argv of the command writing into a pipe, when known.
	Producer []Field
}

// StdinKind says where a command's standard input comes from.
type StdinKind uint8

// Sources of standard input.
const (
	StdinNone StdinKind = iota
	StdinPipe
	StdinHeredoc
	StdinHereString
	StdinFile
)
