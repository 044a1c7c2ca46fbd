// Package policy is Phantom's safety guard: it decides whether a shell command
// proposed by a coding agent may run.
//
// The engine parses the command as bash with mvdan.cc/sh and judges the syntax
// tree, not the string: pipelines, lists, subshells, command and process
// substitutions, redirections, assignments and functions are followed, wrappers
// such as sudo, env, xargs or timeout are peeled, and code handed to a shell or
// an interpreter (bash -c, eval, heredocs, python -c, ...) is re-parsed and
// judged in turn. The rules follow the public project claude-code-safety-net and
// its successor cc-safety-net; docs/safety-guard.md lists them, the modes, and
// where Phantom is deliberately stricter.
//
// What cannot be judged safely is denied: a command name that is not static, a
// shell or interpreter fed a script the engine cannot see, nesting that is too
// deep, or analysis that would exceed its time or step budget. Data is not
// execution: echo, printf, grep, commit messages and heredocs written to files
// stay allowed.
//
// This package is the engine's core: it parses, walks the syntax tree with
// the shell state a command builds (variables, the working directory,
// functions, files it writes), expands words, peels wrappers, follows
// builtins, and turns findings into a decision. What a command that runs
// may not do is decided by the rule families in internal/: git, deletion
// (rm, find, dd, mkfs, shred), interp (shells, interpreters, awk, xargs and
// parallel), secrets, protect, powershell, custom and rawtext. Each
// declares the narrow view of the walker it needs (internal/family is their
// shared vocabulary), and this package implements those views
// (context.go); no family sees the walker itself.
//
// A Check never touches the network or runs a program. It reads the file
// system only to resolve symlinks in the paths it judges and to verify linked
// git worktrees and git configuration. An Engine is safe for concurrent use.
package policy
