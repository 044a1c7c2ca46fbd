// Command phantom-safety-guard judges the shell commands coding agents want
// to run: it answers phantom.rpc.guard.check with allow or block, the rule and
// a reason, and records each decision about a run as run.policy_audit.
// `phantom-safety-guard --help` lists its configuration.
package main

import (
	"context"
	"os"

	"github.com/phantom-run/phantom/pkg/daemon"
	"github.com/phantom-run/phantom/services/safety-guard/service"
)

func main() {
	var cfg service.Config
	os.Exit(daemon.Main(daemon.Spec{
		Name:    "safety-guard",
		Summary: "judges agents' shell commands and audits every decision",
		Config:  &cfg,
		Build: func(ctx context.Context, env daemon.Env) (daemon.Service, error) {
			return service.New(ctx, cfg, env)
		},
	}))
}
