// Package cli is the `phantom` command line: `phantom up` runs Phantom on
// this machine; run, ps and logs talk to a running Phantom over its HTTP API.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
)

// Exit codes of the phantom command besides a run's own (see `phantom run --help`).
const (
	ExitOK = 0
	// ExitFailed: the run failed (without an agent exit code), was canceled
	// or rejected, or a command other than run failed.
	ExitFailed = 1
	// ExitUsage: bad flags or arguments.
	ExitUsage = 2
	// ExitInterrupted: Ctrl-C stopped the CLI (the run goes on).
	ExitInterrupted = 130
	// ExitAPI: the run could not be submitted or followed (Phantom
	// unreachable, the request refused, the stream lost), as docker run's 125.
	ExitAPI = 125
)

// App is what the commands read and write.
type App struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Getenv reads the client's environment (PHANTOM_URL, PHANTOM_TOKEN,
	// PHANTOM_DATA_DIR, PHANTOM_AGENT).
	Getenv func(string) string
	// Components lists the services `phantom up` composes.
	Components func() []up.Component
	// Version is the build's version (set by the linker), "" for a dev build.
	Version string
	// Environ lists the environment (os.Environ when nil), for the safety
	// guard, which judges commands with HOME, TMPDIR and git's settings.
	Environ func() []string
}

func (a *App) environ() []string {
	if a.Environ == nil {
		return os.Environ()
	}
	return a.Environ()
}

// exitError ends the command with a code; err (when not nil) is printed.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func fail(code int, err error) error { return &exitError{code: code, err: err} }

// Main runs the command line and returns the process's exit code.
func Main(ctx context.Context, app App, args []string) int {
	root := newRoot(&app)
	root.SetArgs(args)
	root.SetIn(app.Stdin)
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(app.Stderr, "phantom: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(app.Stderr, "phantom: %v\n", err)
	return ExitFailed
}

type globals struct {
	url, token string
}

func newRoot(app *App) *cobra.Command {
	var g globals
	root := &cobra.Command{
		Use:   "phantom",
		Short: "Run CLI coding agents as durable, observable runs",
		Long: "Phantom runs CLI coding agents (Claude Code, Codex, Gemini CLI, any command) as durable, observable runs:\n" +
			"queued by priority, each in its own git worktree, every line streamed live, the history kept.\n\n" +
			"Start it on this machine with `phantom up`, then submit with `phantom run`.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.url, "url", "", "Phantom's API URL (default $PHANTOM_URL, else the one phantom up wrote in its data dir, else "+client.DefaultURL+")")
	root.PersistentFlags().StringVar(&g.token, "token", "", "API token (default $PHANTOM_TOKEN, else the one phantom up wrote in its data dir)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fail(ExitUsage, err) })
	root.AddCommand(newUp(app), newRun(app, &g), newPs(app, &g), newLogs(app, &g), newVersion(app))
	// The safety guard.
	root.AddCommand(newGuard(app, &g))
	root.AddCommand(agentCommands(app, &g)...)
	root.AddCommand(schedulerCommands(app, &g)...)
	root.CompletionOptions.DisableDefaultCmd = true
	return root
}

// connect builds an API client from flags, environment and client.json.
func connect(app *App, g *globals) (*client.Client, error) {
	s, err := client.Resolve(g.url, g.token, app.Getenv)
	if err != nil {
		return nil, err
	}
	return client.New(s)
}

// usageArgs wraps a cobra argument check so its error exits with ExitUsage.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return fail(ExitUsage, fmt.Errorf("%s (see phantom %s --help)", err, cmd.Name()))
		}
		return nil
	}
}

func newVersion(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of this phantom",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, commit, goVersion := app.Version, "", ""
			if bi, ok := debug.ReadBuildInfo(); ok {
				goVersion = bi.GoVersion
				if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						commit = s.Value
					case "vcs.modified":
						if s.Value == "true" {
							commit += "-dirty"
						}
					}
				}
			}
			if v == "" {
				v = "dev"
			}
			fmt.Fprintf(app.Stdout, "phantom %s\n", v)
			if commit != "" {
				fmt.Fprintf(app.Stdout, "commit  %s\n", commit)
			}
			if goVersion != "" {
				fmt.Fprintf(app.Stdout, "go      %s\n", strings.TrimPrefix(goVersion, "go"))
			}
			return nil
		},
	}
}
