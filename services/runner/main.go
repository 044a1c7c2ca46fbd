// Command phantom-runner runs coding agents for Phantom on this machine: it
// pulls runs dispatched to its pool, spawns each agent, streams its output as
// events and records how it ended. `phantom-runner --help` lists its
// configuration. Run with PHANTOM_FAKE_AGENT=1 it is the scripted fake agent
// instead (see package fakeagent).
package main

import (
	"context"
	"os"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/runner/fakeagent"
	"github.com/phantom-run/phantom/services/runner/service"
	"github.com/phantom-run/phantom/services/safety-guard/hookcmd"
)

func main() {
	// First: `phantom-runner guard hook` is the safety guard's hook the
	// runner puts into agents' settings (`'<os.Executable()>' guard hook`);
	// it must answer at once. This is the runner's only link to another
	// service, and it is on purpose: the hook judges in process with the
	// guard's engine whenever the relay cannot reach the safety-guard
	// service, so this binary carries the engine. Nothing else of the runner
	// imports services/safety-guard.
	hookcmd.MainIfRequested()
	// When launched as the fake agent, be it and exit.
	fakeagent.MainIfRequested()
	var cfg service.Config
	os.Exit(daemon.Main(daemon.Spec{
		Name:    "runner",
		Summary: "runs coding agents dispatched to its pool and streams what they print",
		Config:  &cfg,
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
