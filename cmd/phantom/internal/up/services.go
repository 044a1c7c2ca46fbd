package up

// This file is the seam between `phantom up` and the services: the only
// place that names them. The integrator fills it in after merging the
// service branches (each exposes services/<name>/service with Config, New
// and Run; the gateway's Service also has Handler). Example entry:
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
	return []Component{
		// TODO(integration): projector, scheduler, safety-guard, worktree, runner, gateway.
	}
}

// MainIfRequested runs the helper programs this binary doubles as when the
// environment asks for one (the fake agent, which the runner launches as
// os.Executable() with PHANTOM_FAKE_AGENT=1), and exits; otherwise it
// returns at once. main calls it first thing.
func MainIfRequested() {
	// TODO(integration): fakeagent.MainIfRequested() (github.com/phantom-run/phantom/services/runner/fakeagent)
}
