package cli

import (
	"encoding/json"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/contracts/api"
)

func newPs(app *App, g *globals) *cobra.Command {
	var (
		limit  int
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "ps",
		Short: "List runs, newest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return fail(ExitUsage, fmt.Errorf("--limit %d must be 1..1000", limit))
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			var list []api.Run
			cursor := ""
			more := false
			for {
				page, err := c.List(cmd.Context(), limit, cursor)
				if err != nil {
					return fail(ExitFailed, fmt.Errorf("could not list runs: %w", err))
				}
				list = append(list, page.Runs...)
				cursor = deref(page.NextCursor, "")
				if cursor == "" || len(page.Runs) == 0 {
					break
				}
				if !all {
					more = true
					break
				}
			}
			if asJSON {
				enc := json.NewEncoder(app.Stdout)
				enc.SetIndent("", "  ")
				if list == nil {
					list = []api.Run{}
				}
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tAGENT\tAGE\tEXIT\tPROMPT")
			now := time.Now()
			for _, r := range list {
				exit := "-"
				if r.ExitCode != nil {
					exit = strconv.Itoa(*r.ExitCode)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Agent, age(now, r.CreatedAt), exit, oneLine(r.Prompt, 40))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(app.Stderr, "phantom: more runs than %d: phantom ps --all\n", limit)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVarP(&limit, "limit", "n", 20, "runs per page, 1..1000")
	f.BoolVarP(&all, "all", "a", false, "list every run, page after page")
	f.BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

func newLogs(app *App, g *globals) *cobra.Command {
	var followEnd, quiet bool
	cmd := &cobra.Command{
		Use:   "logs [-f] RUN",
		Short: "Print a run's output and events so far (-f: until it ends)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			err = follow(cmd.Context(), app, c, args[0], followEnd, quiet, false)
			if ee, ok := err.(*exitError); ok && ee.code == ExitAPI {
				ee.code = ExitFailed
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&followEnd, "follow", "f", false, "keep streaming until the run ends")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the agent's output, no status lines")
	return cmd
}
