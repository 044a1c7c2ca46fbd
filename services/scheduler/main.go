// Command phantom-scheduler is Phantom's scheduler as a standalone process:
// the queue that releases runs to runner pools under concurrency limits.
// Run it with --help for its configuration.
package main

import (
	"context"
	"os"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/scheduler/service"
)

func main() {
	var cfg service.Config
	os.Exit(daemon.Main(daemon.Spec{
		Name:    service.Name,
		Summary: "the queue: releases runs to runner pools under concurrency limits",
		Config:  &cfg,
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
