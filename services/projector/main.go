// Command projector keeps Phantom's Postgres read models up to date from the
// event stream. Configuration comes from PHANTOM_* environment variables;
// run it with --help to list them.
package main

import (
	"context"
	"os"

	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/projector/service"
)

func main() {
	var cfg service.Config
	os.Exit(daemon.Main(daemon.Spec{
		Name:          "projector",
		Summary:       "projects the event stream into Postgres read models (runs, run_events, ...)",
		Config:        &cfg,
		NeedsDatabase: true,
		Migrations:    readmodel.Migrations(),
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
