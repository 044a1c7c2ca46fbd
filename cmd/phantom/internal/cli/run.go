package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
)

func newRun(app *App, g *globals) *cobra.Command {
	var (
		spec     runs.Spec
		priority int
		timeout  int
		labels   []string
		detach   bool
		quiet    bool
	)
	cmd := &cobra.Command{
		Use:   "run --agent NAME [flags] PROMPT...",
		Short: "Submit a run and follow its output until it ends",
		Long: `Submit a run and print the agent's output live: its stdout to stdout, its stderr to stderr,
and the run's progress as "phantom: run ID ..." lines on stderr. PROMPT "-" reads the prompt from stdin.
Ctrl-C stops following; the run goes on (phantom logs -f ID picks it up again).

Exit status:
  0     the run completed
  N     the run failed and the agent exited with code N (1-255)
  1     the run failed otherwise, was canceled or was rejected
  2     bad flags or arguments
  125   the run could not be submitted or followed (Phantom unreachable, request refused)
  130   interrupted by Ctrl-C (the run goes on)`,
		Example: `  phantom run --agent fake "hello"
  phantom run --agent claude --priority 5 --timeout 600 "fix the failing test"
  echo "summarise the README" | phantom run --agent codex -
  id=$(phantom run --agent fake --detach "hello")`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if spec.Agent == "" {
				spec.Agent = app.Getenv("PHANTOM_AGENT")
			}
			if spec.Agent == "" {
				return fail(ExitUsage, errors.New("--agent is required (claude, codex, gemini, fake, or one of agents.toml), or set PHANTOM_AGENT"))
			}
			prompt, err := readPrompt(app.Stdin, args)
			if err != nil {
				return fail(ExitUsage, err)
			}
			spec.Prompt = prompt
			if spec.Workspace == "" {
				if spec.Workspace, err = os.Getwd(); err != nil {
					return fail(ExitUsage, fmt.Errorf("could not find the current directory (use --workspace): %w", err))
				}
			}
			if spec.Workspace, err = filepath.Abs(spec.Workspace); err != nil {
				return fail(ExitUsage, fmt.Errorf("--workspace %q: %w", spec.Workspace, err))
			}
			if cmd.Flags().Changed("priority") {
				spec.Priority = &priority
			}
			if cmd.Flags().Changed("timeout") {
				spec.TimeoutSeconds = &timeout
			}
			for _, l := range labels {
				k, v, ok := strings.Cut(l, "=")
				if !ok || k == "" {
					return fail(ExitUsage, fmt.Errorf("--label %q must be key=value", l))
				}
				if spec.Labels == nil {
					spec.Labels = map[string]string{}
				}
				spec.Labels[k] = v
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitAPI, err)
			}
			id, err := c.Submit(ctx, spec)
			if err != nil {
				return fail(ExitAPI, fmt.Errorf("could not submit the run: %w", err))
			}
			if detach {
				fmt.Fprintln(app.Stdout, id)
				return nil
			}
			return follow(ctx, app, c, id, true, quiet, true)
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.Agent, "agent", "", "agent to run: claude, codex, gemini, fake, or one of agents.toml (default $PHANTOM_AGENT)")
	f.StringVarP(&spec.Workspace, "workspace", "w", "", "directory the agent works in (default: the current directory)")
	f.IntVarP(&priority, "priority", "p", 0, "priority in -10..10, higher first (default 0)")
	f.IntVar(&timeout, "timeout", 0, "timeout in seconds, 5..10800 (default: Phantom's)")
	f.StringVar(&spec.Pool, "pool", "", "runner pool (default \"default\")")
	f.StringVar(&spec.Model, "model", "", "model, instead of the agent's default")
	f.StringVar(&spec.Profile, "profile", "", "saved profile filling what the flags leave out")
	f.StringVar(&spec.Isolation, "isolation", "", `"worktree" (a git worktree per run), "none" (the workspace itself); default: a worktree when the workspace is a git repository`)
	f.StringArrayVar(&labels, "label", nil, "key=value kept with the run (repeatable)")
	f.BoolVarP(&detach, "detach", "d", false, "print the run id and return at once")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the agent's output, no status lines")
	return cmd
}

func readPrompt(stdin io.Reader, args []string) (string, error) {
	if len(args) == 1 && args[0] == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
		if err != nil {
			return "", fmt.Errorf("could not read the prompt from stdin: %w", err)
		}
		args = []string{string(b)}
	}
	prompt := strings.TrimSpace(strings.Join(args, " "))
	if prompt == "" {
		return "", errors.New("the prompt is empty")
	}
	return prompt, nil
}

// follow streams a run's events to the terminal. With asRun, its result is
// phantom run's exit code for the run's end.
func follow(ctx context.Context, app *App, c *client.Client, id string, followEnd, quiet, asRun bool) error {
	r := &renderer{stdout: app.Stdout, stderr: app.Stderr, quiet: quiet}
	var last *api.RunEvent
	var grace time.Duration
	if asRun {
		// The run was just submitted: the API may not know it for a moment.
		grace = 10 * time.Second
	}
	err := c.Events(ctx, id, client.StreamOptions{
		Follow:        followEnd,
		NotFoundGrace: grace,
		OnReconnect: func(after uint64, cause error) {
			if !quiet {
				fmt.Fprintf(app.Stderr, "phantom: run %s: stream interrupted (%v); reconnecting after event %d\n", id, cause, after)
			}
		},
	}, func(e api.RunEvent) error {
		if e.Terminal() {
			ev := e
			last = &ev
		}
		return r.render(e)
	})
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(app.Stderr, "phantom: stopped following run %s; it goes on (phantom logs -f %s)\n", id, id)
		return fail(ExitInterrupted, nil)
	}
	if err != nil {
		return fail(ExitAPI, fmt.Errorf("run %s: %w", id, err))
	}
	if !asRun {
		return nil
	}
	if last == nil {
		return fail(ExitAPI, fmt.Errorf("run %s: the event stream ended before the run did", id))
	}
	if code := exitCodeFor(*last); code != ExitOK {
		return fail(code, nil)
	}
	return nil
}
