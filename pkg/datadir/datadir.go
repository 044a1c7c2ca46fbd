// Package datadir says where Phantom keeps the state of one machine:
// `phantom up`'s NATS store, private PostgreSQL, token and client settings,
// and the worktree service's run worktrees. The rule is stated here once, so
// that phantom up, the CLI and a worktree service on its own agree on it
// without being told.
package datadir

import (
	"fmt"
	"os"
	"path/filepath"
)

// Env is the variable that overrides the default.
const Env = "PHANTOM_DATA_DIR"

// Resolve returns the absolute data directory: $PHANTOM_DATA_DIR when set,
// /var/lib/phantom for root (a system service's place, and one an
// unprivileged PostgreSQL user can reach, unlike /root), else
// $XDG_DATA_HOME/phantom or ~/.local/share/phantom.
func Resolve(getenv func(string) string) (string, error) {
	if d := getenv(Env); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return "", fmt.Errorf("could not resolve %s %q: %w", Env, d, err)
		}
		return abs, nil
	}
	if os.Geteuid() == 0 {
		return "/var/lib/phantom", nil
	}
	if x := getenv("XDG_DATA_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "phantom"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("could not find the home directory (set %s): %w", Env, err)
	}
	return filepath.Join(home, ".local", "share", "phantom"), nil
}
