// Package secrets holds the secret-file rule family: which operands of a
// command name files it reads or changes, which paths are secrets (.env
// files, credential files, private keys, home credential directories,
// coding agents' credential stores), and the paths named in interpreter and
// awk code.
package secrets
