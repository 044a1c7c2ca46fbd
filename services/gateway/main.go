// Command gateway is Phantom's HTTP API as a standalone process: runs are
// submitted, read, listed and watched (Server-Sent Events) through it. It
// needs NATS (PHANTOM_NATS_URL), Postgres (PHANTOM_DATABASE_URL) and a
// bearer token (PHANTOM_TOKEN); `gateway --help` lists every setting.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/phantom-run/phantom/contracts/readmodel"
	"github.com/phantom-run/phantom/pkg/config"
	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/gateway/service"
)

func main() {
	var cfg service.Config
	// Refuse a bad configuration (a missing token, say) before connecting
	// to anything, so the message is the first and only thing printed.
	if !config.WantsHelp(os.Args[1:]) {
		var early service.Config
		if err := config.Load(&early); err == nil {
			if err := early.Validate(); err != nil {
				fmt.Fprintf(os.Stderr, "phantom-gateway: %v\n", err)
				os.Exit(2)
			}
		}
	}
	os.Exit(daemon.Main(daemon.Spec{
		Name:          "gateway",
		Summary:       "Phantom's HTTP API: submit, read, list and watch runs",
		Config:        &cfg,
		NeedsDatabase: true,
		Migrations:    readmodel.Migrations(),
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
