package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/phantom-run/phantom/cmd/phantom/internal/client"
	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/pkg/guardclient"
)

// ExitBlocked is `phantom guard check`'s answer for a command that must not run.
const ExitBlocked = 2

func newGuard(app *App, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "guard",
		Short: "The safety guard: judge commands, answer agents' hooks, show decisions and policies",
		Long: "The safety guard judges every shell command an agent (or Phantom itself) wants to run, with the rules of\n" +
			"claude-code-safety-net parsed as bash, and records each decision about a run.\n" +
			"docs/safety-guard.md describes the rules, modes and policies.",
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newGuardCheck(app), newGuardHook(app), newGuardAudits(app, g), newGuardPolicy(app, g), newGuardRules(app))
	return cmd
}

// checkResult is what `phantom guard check` prints.
type checkResult struct {
	Decision string   `json:"decision"`
	Rule     string   `json:"rule"`
	Reason   string   `json:"reason"`
	Segment  string   `json:"segment,omitempty"`
	Mode     string   `json:"mode"`
	Policies []string `json:"policies,omitempty"`
}

func newGuardCheck(app *App) *cobra.Command {
	var cwd, mode, shell string
	cmd := &cobra.Command{
		Use:   "check [--cwd DIR] [--mode MODE] -- 'COMMAND'",
		Short: "Judge a shell command locally; exit 0 allow, 2 block",
		Long: "Judges COMMAND (the words after -- joined by spaces) with the safety guard's engine in this process, as if\n" +
			"run in --cwd (default: the current directory), under the user's ~/.cc-safety-net/config.json and the\n" +
			"project's .safety-net.json. Prints the decision as JSON: {\"decision\":\"allow\"|\"block\",\"rule\",\"reason\",...}.\n" +
			"Exit status: 0 allow, 2 block, 1 when the command cannot be judged as asked (bad flags, unreadable rule file).",
		Example: "  phantom guard check -- 'git reset --hard'\n  phantom guard check --mode strict --cwd ~/src/app -- 'rm -rf build'",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fail(ExitFailed, errors.New("give the command to judge after --, e.g. phantom guard check -- 'git status'"))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cwd == "" {
				wd, err := os.Getwd()
				if err != nil {
					return fail(ExitFailed, fmt.Errorf("could not find the current directory (use --cwd): %w", err))
				}
				cwd = wd
			}
			abs, err := filepath.Abs(cwd)
			if err != nil {
				return fail(ExitFailed, fmt.Errorf("--cwd %q: %w", cwd, err))
			}
			if mode != "" {
				if _, err := guard.ParseMode(mode); err != nil {
					return fail(ExitFailed, fmt.Errorf("--mode: %w", err))
				}
			}
			env := guardclient.CommandEnv(app.environ())
			req := rpc.GuardCheckRequest{Command: strings.Join(args, " "), Cwd: abs, Mode: mode, Shell: shell, Env: env, Origin: rpc.GuardOriginCLI}
			if req.RuleFiles, err = guardclient.ReadRuleFiles(abs, env["HOME"]); err != nil {
				return fail(ExitFailed, err)
			}
			d, err := judgeHere(cmd.Context(), req)
			if err != nil {
				return fail(ExitFailed, err)
			}
			out := checkResult{Decision: d.Decision, Rule: d.Rule, Reason: d.Reason, Segment: d.Segment, Mode: d.Mode, Policies: d.Policies}
			enc := json.NewEncoder(app.Stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(out); err != nil {
				return fail(ExitFailed, err)
			}
			if d.Decision != guard.Allow {
				return fail(ExitBlocked, nil)
			}
			return nil
		},
	}
	// 2 means "blocked" here: bad flags exit 1 instead.
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fail(ExitFailed, err) })
	f := cmd.Flags()
	f.StringVar(&cwd, "cwd", "", "directory the command would run in (default: the current directory)")
	f.StringVar(&mode, "mode", "", "policy mode: default, strict, paranoid, paranoid_rm, paranoid_interpreters, worktree, or a + combination")
	f.StringVar(&shell, "shell", "", "the command's language: bash (default), powershell, or auto (both)")
	return cmd
}

func newGuardHook(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "hook [--agent AGENT] [--mode MODE]",
		Short: "Answer an agent's pre-tool hook (Claude Code, Codex, Gemini CLI, Copilot CLI) on stdin",
		Long:  guardHookUsage,
		// The hook parses its own flags; main answers it before the CLI
		// starts (GuardHookIfRequested), this is the same code for hosts
		// that did not.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := runGuardHook(cmd.Context(), app, args)
			if code != 0 {
				return fail(code, nil)
			}
			return nil
		},
	}
}

func newGuardAudits(app *App, g *globals) *cobra.Command {
	var (
		run, decision string
		limit         int
		all, asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "audits [--run ID] [--decision allow|block]",
		Short: "List the safety guard's decisions about runs, newest first",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 200 {
				return fail(ExitUsage, fmt.Errorf("--limit %d must be 1..200", limit))
			}
			if decision != "" && decision != guard.Allow && decision != guard.Block {
				return fail(ExitUsage, fmt.Errorf("--decision %q must be allow or block", decision))
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			var list []api.PolicyAudit
			f := client.AuditFilter{RunID: run, Decision: decision, Limit: limit}
			more := false
			for {
				page, err := c.Audits(cmd.Context(), f)
				if err != nil {
					return fail(ExitFailed, fmt.Errorf("could not list policy audits: %w", err))
				}
				list = append(list, page.Audits...)
				if page.NextCursor == nil || *page.NextCursor == "" || len(page.Audits) == 0 {
					break
				}
				if !all {
					more = true
					break
				}
				f.Cursor = *page.NextCursor
			}
			if asJSON {
				if list == nil {
					list = []api.PolicyAudit{}
				}
				return writeIndented(app, list)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "AGE\tRUN\tDECISION\tRULE\tORIGIN\tCOMMAND")
			now := time.Now()
			for _, a := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", age(now, a.Time), a.RunID, a.Decision, deref(a.Rule, "-"), deref(a.Origin, "-"), oneLine(a.Command, 60))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if more {
				fmt.Fprintf(app.Stderr, "phantom: more decisions than %d: phantom guard audits --all\n", limit)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&run, "run", "", "only the decisions about this run")
	fl.StringVar(&decision, "decision", "", "only allow or block")
	fl.IntVarP(&limit, "limit", "n", 20, "decisions per page, 1..200")
	fl.BoolVarP(&all, "all", "a", false, "list every decision, page after page")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// policyLine is a policy as one line of JSON, its fields in the order
// events.GuardPolicy gives them.
func policyLine(raw json.RawMessage) string {
	var p events.GuardPolicy
	if json.Unmarshal(raw, &p) != nil {
		return string(raw)
	}
	doc, _ := json.Marshal(p)
	return string(doc)
}

func writeIndented(app *App, v any) error {
	enc := json.NewEncoder(app.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// scopeFlags name one policy scope.
type scopeFlags struct {
	global             bool
	workspace, profile string
}

func (s *scopeFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&s.global, "global", false, "the policy of every command")
	f.StringVar(&s.workspace, "workspace", "", "the policy of runs in this directory and below it")
	f.StringVar(&s.profile, "profile", "", "the policy of runs submitted with this profile")
}

// resolve returns the scope and target, the workspace made absolute.
func (s *scopeFlags) resolve() (string, string, error) {
	n := 0
	scope, target := "", ""
	if s.global {
		n, scope = n+1, events.GuardScopeGlobal
	}
	if s.workspace != "" {
		abs, err := filepath.Abs(s.workspace)
		if err != nil {
			return "", "", fmt.Errorf("--workspace %q: %w", s.workspace, err)
		}
		n, scope, target = n+1, events.GuardScopeWorkspace, abs
	}
	if s.profile != "" {
		n, scope, target = n+1, events.GuardScopeProfile, s.profile
	}
	if n != 1 {
		return "", "", errors.New("name exactly one scope: --global, --workspace DIR or --profile NAME")
	}
	return scope, target, nil
}

func newGuardPolicy(app *App, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Show and set the safety guard's policies (global, per workspace, per profile)",
		Long: "A command is judged under the global policy, then the policy of the run's workspace (or of its nearest\n" +
			"parent directory that has one), then the policy of the run's profile, then the project's .safety-net.json;\n" +
			"a later one overrides an earlier one where they disagree (mode, rule switches), custom rules add up.",
		Args: usageArgs(cobra.NoArgs),
	}
	cmd.AddCommand(newGuardPolicyList(app, g), newGuardPolicySet(app, g), newGuardPolicyRm(app, g))
	return cmd
}

func newGuardPolicyList(app *App, g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the configured policies",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			list, err := c.GuardPolicies(cmd.Context())
			if err != nil {
				return fail(ExitFailed, fmt.Errorf("could not list guard policies: %w", err))
			}
			if asJSON {
				if list == nil {
					list = []api.GuardPolicyRecord{}
				}
				return writeIndented(app, list)
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCOPE\tTARGET\tPOLICY")
			for _, p := range list {
				doc := policyLine(p.Policy)
				fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Scope, dash(p.Target), oneLine(doc, 100))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newGuardPolicySet(app *App, g *globals) *cobra.Command {
	var (
		scope                 scopeFlags
		file, rules, mode     string
		on, off, allow, wraps []string
		disableDestructive    bool
	)
	cmd := &cobra.Command{
		Use:   "set (--global | --workspace DIR | --profile NAME) [--mode MODE] [--rules .safety-net.json] [--off RULE]...",
		Short: "Set the policy of one scope (it replaces the scope's previous policy)",
		Example: "  phantom guard policy set --workspace ~/src/app --mode strict --rules ~/src/app/.safety-net.json\n" +
			"  phantom guard policy set --profile release --off git.push_force\n" +
			"  phantom guard policy set --global --file policy.json",
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, target, err := scope.resolve()
			if err != nil {
				return fail(ExitUsage, err)
			}
			var p events.GuardPolicy
			if file != "" {
				data, err := os.ReadFile(file)
				if err != nil {
					return fail(ExitUsage, fmt.Errorf("--file: %w", err))
				}
				dec := json.NewDecoder(bytes.NewReader(data))
				dec.DisallowUnknownFields()
				if err := dec.Decode(&p); err != nil {
					return fail(ExitUsage, fmt.Errorf("--file %s: %w", file, err))
				}
			}
			if rules != "" {
				data, err := os.ReadFile(rules)
				if err != nil {
					return fail(ExitUsage, fmt.Errorf("--rules: %w", err))
				}
				loaded, err := guard.ParseRules(data)
				if err != nil {
					return fail(ExitUsage, fmt.Errorf("--rules: could not load rule file %s: %w", rules, err))
				}
				p.Rules = append(p.Rules, loaded...)
			}
			if mode != "" {
				p.Mode = mode
			}
			for _, id := range on {
				setSwitch(&p, id, true)
			}
			for _, id := range off {
				setSwitch(&p, id, false)
			}
			p.AllowPaths = append(p.AllowPaths, allow...)
			p.Wrappers = append(p.Wrappers, wraps...)
			if cmd.Flags().Changed("disable-destructive") {
				p.DisableDestructive = &disableDestructive
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			saved, err := c.SaveGuardPolicy(cmd.Context(), sc, target, p)
			if err != nil {
				return fail(ExitFailed, fmt.Errorf("could not save the policy: %w", err))
			}
			return writeIndented(app, saved)
		},
	}
	scope.add(cmd)
	f := cmd.Flags()
	f.StringVar(&file, "file", "", "a policy document (JSON, as GET /v1/guard/policies shows it); the other flags add to it")
	f.StringVar(&rules, "rules", "", "custom rules from a file in the .safety-net.json format")
	f.StringVar(&mode, "mode", "", "policy mode: default, strict, paranoid, paranoid_rm, paranoid_interpreters, worktree, or a + combination")
	f.StringSliceVar(&on, "on", nil, "switch a built-in rule on (phantom guard rules lists them); repeatable")
	f.StringSliceVar(&off, "off", nil, "switch a built-in rule off (not a catastrophic one); repeatable")
	f.StringSliceVar(&allow, "allow-path", nil, "a directory where recursive deletes are allowed; repeatable")
	f.StringSliceVar(&wraps, "wrapper", nil, "a command that only runs its arguments (judged through); repeatable")
	f.BoolVar(&disableDestructive, "disable-destructive", false, "switch off every destructive-command rule that is not catastrophic")
	return cmd
}

func setSwitch(p *events.GuardPolicy, id string, on bool) {
	if p.RuleSwitches == nil {
		p.RuleSwitches = map[string]bool{}
	}
	p.RuleSwitches[id] = on
}

func newGuardPolicyRm(app *App, g *globals) *cobra.Command {
	var scope scopeFlags
	cmd := &cobra.Command{
		Use:   "rm (--global | --workspace DIR | --profile NAME)",
		Short: "Remove the policy of one scope",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sc, target, err := scope.resolve()
			if err != nil {
				return fail(ExitUsage, err)
			}
			c, err := connect(app, g)
			if err != nil {
				return fail(ExitFailed, err)
			}
			if err := c.DeleteGuardPolicy(cmd.Context(), sc, target); err != nil {
				return fail(ExitFailed, fmt.Errorf("could not remove the policy: %w", err))
			}
			return nil
		},
	}
	scope.add(cmd)
	return cmd
}

func newGuardRules(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "rules",
		Short: "List the built-in rules and their ids (for policy switches)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := guard.Catalogue()
			sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
			tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "RULE\tCATASTROPHIC\tMODE\tBLOCKS")
			for _, r := range list {
				cat := "-"
				if r.Catastrophic {
					cat = "yes"
				}
				m := "any"
				if r.EnabledBy != guard.ModeDefault {
					m = r.EnabledBy.String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, cat, m, r.Description)
			}
			return tw.Flush()
		},
	}
}
