// Command phantom is Phantom's command line: `phantom up` runs the whole
// system on this machine; run, ps and logs talk to it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/phantom-run/phantom/cmd/phantom/internal/cli"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version string

func main() {
	// First: `phantom guard hook` answers an agent's pre-tool hook, which
	// runs before every shell command the agent wants to run: nothing else
	// may delay it.
	cli.GuardHookIfRequested()
	// This binary doubles as helper programs (the fake agent) that the
	// runner starts by re-executing it.
	up.MainIfRequested()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, the default action returns: a second
		// Ctrl-C ends the process at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Main(ctx, cli.App{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Getenv: os.Getenv, Components: up.Components, Version: version, Environ: os.Environ,
	}, os.Args[1:])
	stop()
	os.Exit(code)
}
