// Package git holds the git rule family: how a git command line splits into
// global options and a subcommand, which subcommands destroy work (reset
// --hard, push --force, clean -f, ...), git configuration from the command
// line and the environment (aliases, SSH overrides), and the worktree mode's
// relaxation inside a verified linked worktree.
package git
