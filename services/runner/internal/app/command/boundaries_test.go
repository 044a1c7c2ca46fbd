package command

import (
	"go/build"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The use cases reach the outside world only through their ports: they
// import no adapter, no inbound port and nothing that starts processes or
// opens connections. The domain under them does no I/O at all.
func TestUseCasesSeeOnlyPortsAndTheDomainDoesNoIO(t *testing.T) {
	t.Parallel()
	io := []string{"os/exec", "syscall", "golang.org/x/sys/unix", "net", "net/http", "github.com/nats-io/nats.go", "github.com/jackc/pgx/v5"}
	forbidden := func(path string, more ...string) bool {
		return slices.Contains(io, path) || slices.Contains(more, path) ||
			strings.Contains(path, "/runner/internal/adapters/") || strings.Contains(path, "/runner/internal/ports/")
	}
	imports := func(dir string) []string {
		pkg, err := build.ImportDir(dir, 0)
		require.NoError(t, err, dir)
		return pkg.Imports
	}

	for _, path := range imports(".") {
		require.False(t, forbidden(path), "internal/app/command imports %s", path)
	}
	domain, err := filepath.Glob("../../domain/*")
	require.NoError(t, err)
	require.NotEmpty(t, domain)
	for _, dir := range domain {
		for _, path := range imports(dir) {
			require.False(t, forbidden(path, "os", "io/fs", "github.com/nats-io/nats.go/jetstream"),
				"%s imports %s", strings.TrimPrefix(dir, "../../"), path)
		}
	}
}
