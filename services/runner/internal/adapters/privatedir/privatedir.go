// Package privatedir gives each attempt a directory of its own under the
// system's temporary directory (command.PrivateDirs): only the runner's user
// may enter it (0700) or read its files (0600), because they hold what an
// agent is configured with (an MCP configuration with its credentials) and
// the socket through which its guard hook asks the safety guard.
package privatedir

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/phantom-run/phantom/services/runner/internal/domain/launch"
)

// Temp makes the directories under os.TempDir().
type Temp struct{}

// Create makes a new private directory.
func (Temp) Create() (string, error) {
	d, err := os.MkdirTemp("", "phantom-run-")
	if err != nil {
		return "", fmt.Errorf("could not create the attempt's private directory: %w", err)
	}
	if err := os.Chmod(d, 0o700); err != nil {
		_ = os.RemoveAll(d)
		return "", fmt.Errorf("could not protect %s: %w", d, err)
	}
	return d, nil
}

// Write writes files into dir, each readable by this user only.
func (Temp) Write(dir string, files []launch.File) error {
	for _, f := range files {
		path := filepath.Join(dir, f.Name)
		if err := os.WriteFile(path, f.Data, 0o600); err != nil {
			return fmt.Errorf("could not write %s: %w", path, err)
		}
	}
	return nil
}

// Remove removes dir and what it holds.
func (Temp) Remove(dir string) { _ = os.RemoveAll(dir) }
