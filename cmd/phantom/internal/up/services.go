package up

import (
	"context"

	"github.com/phantom-run/phantom/pkg/daemon"
	gateway "github.com/phantom-run/phantom/services/gateway/service"
	projector "github.com/phantom-run/phantom/services/projector/service"
	"github.com/phantom-run/phantom/services/runner/fakeagent"
	runner "github.com/phantom-run/phantom/services/runner/service"
	safetyguard "github.com/phantom-run/phantom/services/safety-guard/service"
	scheduler "github.com/phantom-run/phantom/services/scheduler/service"
	worktree "github.com/phantom-run/phantom/services/worktree/service"
)

// This file is the seam between `phantom up` and the services: the only
// place that names them. Each service exposes services/<name>/service with
// Config, New and Run (the gateway's Service also has Handler); an entry
// looks like:
//
//	var gw gateway.Config
//	...
//	{Name: "gateway", Config: &gw, NeedsDB: true,
//		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) { return gateway.New(ctx, gw, env) }},
//
// (the closure reads gw when Build runs, after phantom up filled it).
//
// Order matters: components start in this order and stop in reverse, so
// list the projector first and the gateway last, runners just before it:
// projector, scheduler, safety-guard, worktree, runner, gateway. Then the
// gateway stops accepting first, runners drain next, the rest after them.

// Components returns the services phantom up composes, each with a fresh
// settings struct.
func Components() []Component {
	var (
		proj  projector.Config
		sched scheduler.Config
		guard safetyguard.Config
		wt    worktree.Config
		run   runner.Config
		gw    gateway.Config
	)
	return []Component{
		{Name: "projector", Config: &proj, NeedsDB: true,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
				return projector.New(ctx, proj, env)
			}},
		{Name: "scheduler", Config: &sched,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
				return scheduler.New(ctx, sched, env)
			}},
		{Name: "safety-guard", Config: &guard,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
				return safetyguard.New(ctx, guard, env)
			}},
		{Name: "worktree", Config: &wt,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) { return worktree.New(ctx, wt, env) }},
		{Name: "runner", Config: &run,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) { return runner.New(ctx, run, env) }},
		{Name: "gateway", Config: &gw, NeedsDB: true,
			Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
				// phantom up serves the gateway's Handler on its own listener.
				cfg := gw
				cfg.HTTPAddr = ""
				return gateway.New(ctx, cfg, env)
			}},
	}
}

// MainIfRequested runs the helper programs this binary doubles as when the
// environment asks for one (the fake agent, which the runner launches as
// os.Executable() with PHANTOM_FAKE_AGENT=1), and exits; otherwise it
// returns at once. main calls it first thing.
func MainIfRequested() {
	fakeagent.MainIfRequested()
}
