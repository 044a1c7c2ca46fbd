// Command phantom-worktree is Phantom's worktree service for one machine: it
// prepares each run's working directory (a git worktree on a branch of its
// own) for the runners of its host. `phantom-worktree --help` lists its
// configuration.
package main

import (
	"context"
	"os"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/worktree/service"
)

func main() {
	var cfg service.Config
	os.Exit(daemon.Main(daemon.Spec{
		Name:    "worktree",
		Summary: "git worktrees for the runs of one machine",
		Config:  &cfg,
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
