package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
)

// agentCommands are the commands that steer and show agents:
// capabilities, pause/resume, usage, interactive sessions, conversations.
func agentCommands(app *App, g *globals) []*cobra.Command {
	return []*cobra.Command{newCapabilities(app, g), newPause(app, g, "pause"), newPause(app, g, "resume"),
		newUsage(app, g), newSession(app, g), newConversation(app, g)}
}

// call runs one API request and prints the answer as JSON when asJSON.
func call(cmd *cobra.Command, app *App, g *globals, method, path string, body, out any) error {
	c, err := connect(app, g)
	if err != nil {
		return fail(ExitFailed, err)
	}
	if err := c.Call(cmd.Context(), method, path, body, out); err != nil {
		return fail(ExitFailed, err)
	}
	return nil
}

func printJSON(app *App, v any) error {
	enc := json.NewEncoder(app.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func workspaceOrCwd(ws string) (string, error) {
	if ws == "" {
		d, err := os.Getwd()
		if err != nil {
			return "", fmt.Errorf("could not find the current directory (use --workspace): %w", err)
		}
		ws = d
	}
	return filepath.Abs(ws)
}

func newCapabilities(app *App, g *globals) *cobra.Command {
	var refresh, asJSON bool
	cmd := &cobra.Command{
		Use:   "capabilities",
		Short: "List the agent CLIs each runner found: version, support, models",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if refresh {
				if err := call(cmd, app, g, http.MethodPost, "/v1/capabilities/refresh", nil, nil); err != nil {
					return err
				}
				fmt.Fprintln(app.Stderr, "phantom: runners asked to detect their CLIs again; their answers follow within seconds")
			}
			var out api.CapabilityList
			if err := call(cmd, app, g, http.MethodGet, "/v1/capabilities", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(app, out.Capabilities)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RUNNER\tHOST\tAGENT\tSUPPORT\tVERSION\tMODELS\tNOTE")
			for _, c := range out.Capabilities {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.RunnerID, c.Host, c.Agent, c.Support, deref(c.Version, "-"),
					oneLine(strings.Join(c.Models, ","), 30), oneLine(deref(c.Reason, ""), 60))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&refresh, "refresh", false, "ask the runners to detect again first")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func deref(s *string, def string) string {
	if s == nil || *s == "" {
		return def
	}
	return *s
}

func newPause(app *App, g *globals, verb string) *cobra.Command {
	short := "Pause a running run's agent where it is"
	if verb == "resume" {
		short = "Let a paused run's agent go on"
	}
	return &cobra.Command{
		Use:   verb + " RUN",
		Short: short,
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := call(cmd, app, g, http.MethodPost, "/v1/runs/"+url.PathEscape(args[0])+"/"+verb, nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(app.Stderr, "phantom: run %s: %s requested\n", args[0], verb)
			return nil
		},
	}
}

func newUsage(app *App, g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "usage RUN",
		Short: "Print a run's tokens and cost per model",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out api.RunUsage
			if err := call(cmd, app, g, http.MethodGet, "/v1/runs/"+url.PathEscape(args[0])+"/usage", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(app, out)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ATTEMPT\tMODEL\tINPUT\tOUTPUT\tCOST USD")
			for _, u := range out.Usage {
				fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\n", u.Attempt, u.Model, u.InputTokens, u.OutputTokens, cost(u.CostUSD, u.CostEstimated))
			}
			fmt.Fprintf(tw, "\ttotal\t%d\t%d\t%s\n", out.Total.InputTokens, out.Total.OutputTokens, cost(&out.Total.CostUSD, out.Total.CostEstimated))
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func cost(c *float64, estimated bool) string {
	if c == nil {
		return "-"
	}
	s := fmt.Sprintf("%.4f", *c)
	if estimated {
		s += " (est.)"
	}
	return s
}

func newSession(app *App, g *globals) *cobra.Command {
	root := &cobra.Command{Use: "session", Short: "Interactive sessions: an agent that keeps taking input"}
	var spec runs.Spec
	start := &cobra.Command{
		Use:   "start --agent NAME [--workspace DIR] PROMPT",
		Short: "Start an interactive session; prints its id (the run's)",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var err error
			if spec.Workspace, err = workspaceOrCwd(spec.Workspace); err != nil {
				return fail(ExitUsage, err)
			}
			spec.Prompt = strings.Join(args, " ")
			var out api.Submitted
			if err := call(cmd, app, g, http.MethodPost, "/v1/sessions", spec, &out); err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, out.RunID)
			return nil
		},
	}
	start.Flags().StringVar(&spec.Agent, "agent", "claude", "the agent")
	start.Flags().StringVarP(&spec.Workspace, "workspace", "w", "", "directory the agent works in (default: the current directory)")
	start.Flags().StringVar(&spec.Model, "model", "", "the agent's model")
	send := &cobra.Command{
		Use:   "send SESSION TEXT",
		Short: "Send a turn of input to a session",
		Args:  usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, app, g, http.MethodPost, "/v1/sessions/"+url.PathEscape(args[0])+"/input",
				api.SessionInput{Text: strings.Join(args[1:], " ")}, nil)
		},
	}
	end := &cobra.Command{
		Use:   "end SESSION",
		Short: "End a session: the agent finishes its turn and exits",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, app, g, http.MethodPost, "/v1/sessions/"+url.PathEscape(args[0])+"/end", nil, nil)
		},
	}
	resume := &cobra.Command{
		Use:   "resume SESSION [PROMPT]",
		Short: "Resume a finished session in a new one on the same provider session; prints its id",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out api.Submitted
			if err := call(cmd, app, g, http.MethodPost, "/v1/sessions/"+url.PathEscape(args[0])+"/resume",
				api.ResumeSession{Prompt: strings.Join(args[1:], " ")}, &out); err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, out.RunID)
			return nil
		},
	}
	root.AddCommand(start, send, end, resume)
	return root
}

func newConversation(app *App, g *globals) *cobra.Command {
	root := &cobra.Command{Use: "conversation", Aliases: []string{"conv"}, Short: "Conversations: threads of runs on one provider session"}
	var n api.NewConversation
	create := &cobra.Command{
		Use:   "create --agent NAME [--workspace DIR] [--title TITLE]",
		Short: "Create a conversation; prints its id",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if n.Workspace, err = workspaceOrCwd(n.Workspace); err != nil {
				return fail(ExitUsage, err)
			}
			var out api.Conversation
			if err := call(cmd, app, g, http.MethodPost, "/v1/conversations", n, &out); err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, out.ID)
			return nil
		},
	}
	create.Flags().StringVar(&n.Agent, "agent", "claude", "the agent (a conversation keeps it)")
	create.Flags().StringVarP(&n.Workspace, "workspace", "w", "", "directory (default: the current directory)")
	create.Flags().StringVar(&n.Title, "title", "", "title")
	create.Flags().StringVar(&n.Model, "model", "", "model")
	var archived bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List conversations, most recently active first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var out api.ConversationList
			path := "/v1/conversations"
			if archived {
				path += "?includeArchived=true"
			}
			if err := call(cmd, app, g, http.MethodGet, path, nil, &out); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tAGENT\tMESSAGES\tARCHIVED\tTITLE")
			for _, c := range out.Conversations {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%t\t%s\n", c.ID, c.Agent, c.MessageCount, c.Archived, oneLine(c.Title, 50))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&archived, "archived", false, "include archived conversations")
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print a conversation with its messages and their runs (JSON)",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out json.RawMessage
			if err := call(cmd, app, g, http.MethodGet, "/v1/conversations/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			return printJSON(app, out)
		},
	}
	var quiet bool
	send := &cobra.Command{
		Use:   "send ID TEXT",
		Short: "Send a message: it runs the agent on the thread's session and streams its output",
		Args:  usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			var out api.MessageSent
			if err := c.Call(cmd.Context(), http.MethodPost, "/v1/conversations/"+url.PathEscape(args[0])+"/messages",
				api.SendMessage{Text: strings.Join(args[1:], " ")}, &out); err != nil {
				return fail(ExitAPI, err)
			}
			return follow(cmd.Context(), app, c, out.RunID, true, quiet, true)
		},
	}
	send.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the agent's output")
	rename := &cobra.Command{
		Use:   "rename ID TITLE",
		Short: "Rename a conversation",
		Args:  usageArgs(cobra.MinimumNArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, app, g, http.MethodPatch, "/v1/conversations/"+url.PathEscape(args[0]), api.RenameConversation{Title: strings.Join(args[1:], " ")}, nil)
		},
	}
	archive := &cobra.Command{
		Use:   "archive ID",
		Short: "Archive a conversation: it takes no new messages",
		Args:  usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return call(cmd, app, g, http.MethodPost, "/v1/conversations/"+url.PathEscape(args[0])+"/archive", nil, nil)
		},
	}
	root.AddCommand(create, list, show, send, rename, archive)
	return root
}
