// Package family is the contract between the engine's walker (package
// policy) and its rule families (git, deletion, interpreters and carriers,
// secrets, protected paths, PowerShell, custom rules, raw text): the words of
// a command as the walker expanded them (Field), what a command reads on
// stdin, the shell variables it sees, the command itself (Call) and a
// blocking verdict (Finding).
//
// Every family exports Judge(ctx, *Call) *Finding (and the few entry points
// the walker needs besides), where ctx is a Context interface of the family's
// own: the narrow view of the walker its rules use, never the walker itself.
// The walker implements every one of them.
package family
