package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
)

// schedulerCommands are the commands of the scheduler's area: queue,
// cancel, rerun, providers.
func schedulerCommands(app *App, g *globals) []*cobra.Command {
	return []*cobra.Command{newQueue(app, g), newCancel(app, g), newRerun(app, g), newProviders(app, g)}
}

func newQueue(app *App, g *globals) *cobra.Command {
	var (
		o      client.QueueOptions
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "queue",
		Short: "List the pending runs in dispatch order, and why each waits",
		Long: `List the runs waiting to run, in the order the scheduler will dispatch them: position, priority,
effective priority (raised by aging), wait, provider, and why each waits:
  next             goes with the next decision
  global_limit     every slot is taken
  provider_limit   its provider's slots are taken
  profile_limit    its profile's maxConcurrent is reached
  workspace_limit  its workspace's limit is reached
  provider_hold    its provider's quota ran out; it waits for the reset
  backoff          a retry waits for its backoff
  decision         not queued yet`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			q, err := c.Queue(cmd.Context(), o)
			if err != nil {
				return fail(ExitFailed, fmt.Errorf("could not read the queue: %w", err))
			}
			if asJSON {
				enc := json.NewEncoder(app.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(q)
			}
			if !q.Live {
				fmt.Fprintln(app.Stderr, "phantom: no scheduler answered (a failover?): the list is the read model's, without effective priorities or reasons")
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "POS\tRUN\tPRIO\tEFF\tWAIT\tPROVIDER\tATTEMPT\tWHY")
			for _, j := range q.Jobs {
				why := j.Waiting
				switch {
				case j.HoldUntil != nil:
					why += " until " + j.HoldUntil.Local().Format("15:04:05")
				case j.NotBefore != nil:
					why += " until " + j.NotBefore.Local().Format("15:04:05")
				}
				fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%s\t%s\t%d\t%s\n", j.Position, j.RunID, j.Priority, j.EffectivePriority,
					(time.Duration(j.WaitMs) * time.Millisecond).Round(time.Second), j.Provider, j.Attempt, why)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(app.Stderr, "phantom: %d waiting, %d running", q.Pending, q.Running)
			if l := q.Limits; l != nil {
				fmt.Fprintf(app.Stderr, " (at most %d at once, %d per provider; aging horizon %s)", l.MaxRunning, l.MaxPerProvider,
					time.Duration(l.AgingHorizonMs)*time.Millisecond)
			}
			fmt.Fprintln(app.Stderr)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Pool, "pool", "", "only this runner pool")
	f.StringVar(&o.Provider, "provider", "", "only this provider")
	f.IntVarP(&o.Limit, "limit", "n", 0, "the first N runs only (1..1000)")
	f.BoolVar(&asJSON, "json", false, "print the queue as JSON")
	return cmd
}

func newCancel(app *App, g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel RUN...",
		Short: "Cancel runs: a queued run leaves the queue, a running one is stopped",
		Long: `Cancel runs. A queued run (or one waiting for a retry) leaves the queue at once; a running one is
stopped by its runner (interrupt, terminate, kill after a grace). Prints "RUN canceled", or "RUN canceling"
while the runner stops it. A run that has already ended is an error.`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			var failed []string
			for _, id := range args {
				out, err := c.Cancel(cmd.Context(), id, reason)
				if err != nil {
					fmt.Fprintf(app.Stderr, "phantom: could not cancel run %s: %v\n", id, err)
					failed = append(failed, id)
					continue
				}
				fmt.Fprintf(app.Stdout, "%s %s\n", out.RunID, out.Status)
			}
			if len(failed) > 0 {
				return fail(ExitFailed, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, kept with the run")
	return cmd
}

func newRerun(app *App, g *globals) *cobra.Command {
	var (
		o        runs.Spec
		priority int
		timeout  int
		detach   bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "rerun RUN [flags]",
		Short: "Run a run's request again, with overrides, and follow it",
		Long: `Submit a new run from RUN's request, with the flags given replacing its values (the rest is
RUN's), linked to RUN; then follow it as phantom run does (same exit statuses), or print its id with -d.`,
		Example: `  phantom rerun 01J... --priority 8
  phantom rerun 01J... --model opus -d`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("priority") {
				o.Priority = &priority
			}
			if cmd.Flags().Changed("timeout") {
				o.TimeoutSeconds = &timeout
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitAPI, err)
			}
			id, err := c.Rerun(cmd.Context(), args[0], o)
			if err != nil {
				return fail(ExitAPI, fmt.Errorf("could not rerun run %s: %w", args[0], err))
			}
			if detach {
				fmt.Fprintln(app.Stdout, id)
				return nil
			}
			if !quiet {
				fmt.Fprintf(app.Stderr, "phantom: run %s reruns %s\n", id, args[0])
			}
			return follow(cmd.Context(), app, c, id, true, quiet, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Agent, "agent", "", "another agent")
	f.StringVar(&o.Prompt, "prompt", "", "another prompt")
	f.IntVarP(&priority, "priority", "p", 0, "another priority in -10..10")
	f.IntVar(&timeout, "timeout", 0, "another timeout in seconds, 5..10800")
	f.StringVar(&o.Model, "model", "", "another model")
	f.StringVar(&o.Pool, "pool", "", "another runner pool")
	f.StringVar(&o.Profile, "profile", "", "another profile")
	f.BoolVarP(&detach, "detach", "d", false, "print the new run's id and return at once")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the agent's output, no status lines")
	return cmd
}

func newProviders(app *App, g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List providers with their runs and quota holds",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			ps, err := c.Providers(cmd.Context())
			if err != nil {
				return fail(ExitFailed, fmt.Errorf("could not read the providers: %w", err))
			}
			if asJSON {
				enc := json.NewEncoder(app.Stdout)
				enc.SetIndent("", "  ")
				if ps == nil {
					ps = []api.ProviderState{}
				}
				return enc.Encode(ps)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "PROVIDER\tQUEUED\tRETRYING\tRUNNING\tHOLD")
			for _, p := range ps {
				hold := "-"
				if p.Held && p.LastHold != nil {
					var parts []string
					if p.LastHold.Reason != nil {
						parts = append(parts, *p.LastHold.Reason)
					}
					parts = append(parts, "until "+p.LastHold.Until.Local().Format(time.DateTime))
					if p.LastHold.ResetKnown != nil && !*p.LastHold.ResetKnown {
						parts = append(parts, "(default hold)")
					}
					hold = strings.Join(parts, " ")
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\n", p.Provider, p.Queued, p.Retrying, p.Running, hold)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the providers as JSON")
	return cmd
}
