package privatepg

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	embeddedpostgres "github.com/fergusstrange/embedded-postgres"
)

// download fetches PostgreSQL binaries into dir/dist with embedded-postgres,
// for machines with no PostgreSQL installed. The library only knows how to
// fetch, unpack, init and start in one call, so it starts a throwaway
// cluster (which fails harmlessly when we are root, after the binaries are
// unpacked) and the binaries stay for Phantom's own start, which handles
// root and keeps the cluster in data/.
func download(ctx context.Context, dir string, as *account) error {
	dist := filepath.Join(dir, "dist")
	scratch := filepath.Join(dir, "dist-scratch")
	defer os.RemoveAll(scratch)
	port, err := freePort()
	if err != nil {
		return err
	}
	ep := embeddedpostgres.NewDatabase(embeddedpostgres.DefaultConfig().
		Version(embeddedpostgres.V16).
		Port(uint32(port)).
		BinariesPath(dist).
		CachePath(filepath.Join(scratch, "cache")).
		RuntimePath(filepath.Join(scratch, "runtime")).
		DataPath(filepath.Join(scratch, "data")).
		Logger(io.Discard))
	done := make(chan error, 1)
	go func() {
		err := ep.Start()
		if err == nil {
			err = ep.Stop()
		}
		done <- err
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if _, statErr := os.Stat(filepath.Join(dist, "bin", "pg_ctl")); statErr != nil {
		if err == nil {
			err = statErr
		}
		return fmt.Errorf("could not download PostgreSQL: %w", err)
	}
	return as.own(dist)
}
