package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/cmd/phantom/internal/up"
	"github.com/phantom-run/phantom/pkg/datadir"
	"github.com/phantom-run/phantom/pkg/logging"
)

func newUp(app *App) *cobra.Command {
	var printEnv, listComponents, configMarkdown bool
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run all of Phantom on this machine, in this process",
		Long: `Run all of Phantom in this process: NATS (embedded, or PHANTOM_NATS_URL), PostgreSQL (a private one
under the data dir, or PHANTOM_DATABASE_URL) and every service, with the API on PHANTOM_HTTP_ADDR.

Once ready it prints PHANTOM_URL=... and PHANTOM_TOKEN=... on stdout and writes them to client.json in
the data dir, where phantom run/ps/logs find them by themselves. Ctrl-C stops everything in order; the
next phantom up keeps all history. eval "$(phantom up --print-env)" exports the two variables in a shell.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			comps := app.Components()
			switch {
			case listComponents:
				for _, c := range comps {
					fmt.Fprintln(app.Stdout, c.Name)
				}
				return nil
			case configMarkdown:
				return up.Markdown(app.Stdout, comps)
			}
			settings, err := up.LoadSettings()
			if err != nil {
				return fail(ExitUsage, err)
			}
			if printEnv {
				return printEnvironment(app, settings)
			}
			log, err := logging.New(settings.Log, os.Stderr)
			if err != nil {
				return fail(ExitUsage, err)
			}
			return up.Run(cmd.Context(), up.Options{Settings: settings, Components: comps, Logger: log, Stdout: app.Stdout})
		},
	}
	cmd.Flags().BoolVar(&printEnv, "print-env", false, `print "export PHANTOM_URL=... PHANTOM_TOKEN=..." for eval in a shell, and exit`)
	cmd.Flags().BoolVar(&listComponents, "components", false, "list the services this build composes, and exit")
	cmd.Flags().BoolVar(&configMarkdown, "config-markdown", false, "print the configuration as a Markdown table, and exit")
	_ = cmd.Flags().MarkHidden("config-markdown")
	defaultHelp := cmd.HelpFunc()
	cmd.SetHelpFunc(func(c *cobra.Command, args []string) {
		defaultHelp(c, args)
		fmt.Fprint(c.OutOrStdout(), "\nConfiguration (environment variables):\n\n")
		if err := up.Usage(c.OutOrStdout(), app.Components()); err != nil {
			fmt.Fprintf(c.ErrOrStderr(), "phantom: %v\n", err)
		}
	})
	return cmd
}

// printEnvironment prints the URL and token a client of this machine's
// phantom up uses: the token is made now if there is none yet, so the
// answer holds for the phantom up that starts later.
func printEnvironment(app *App, s up.Settings) error {
	dir := s.Up.DataDir
	if dir == "" {
		var err error
		if dir, err = datadir.Resolve(os.Getenv); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("could not create the data dir %s: %w", dir, err)
	}
	token, err := up.LoadOrCreateToken(dir, s.Up.Token)
	if err != nil {
		return err
	}
	url := up.URLFor(s.Up.HTTPAddr)
	if _, port, _ := net.SplitHostPort(s.Up.HTTPAddr); port == "0" {
		// A free port is only known once phantom up runs: use what it wrote.
		cs, err := client.ReadSettings(client.SettingsPath(dir))
		if errors.Is(err, fs.ErrNotExist) {
			return errors.New("PHANTOM_HTTP_ADDR picks a free port, known only once phantom up runs: start it first")
		}
		if err != nil {
			return err
		}
		url = cs.URL
	}
	fmt.Fprintf(app.Stdout, "export PHANTOM_URL=%s\nexport PHANTOM_TOKEN=%s\n", shellQuote(url), shellQuote(token))
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:", r)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
