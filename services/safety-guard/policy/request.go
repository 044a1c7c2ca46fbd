package policy

import (
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
)

// Shell names the language a command is written in.
type Shell string

const (
	// ShellBash is the default: POSIX shell syntax as bash parses it.
	ShellBash Shell = "bash"
	// ShellPowerShell judges the command as PowerShell (Remove-Item and friends,
	// Invoke-Expression, script blocks), for agents that run pwsh.
	ShellPowerShell Shell = "powershell"
	// ShellAuto judges the command both as bash and as PowerShell and blocks if
	// either reading blocks.
	ShellAuto Shell = "auto"
)

// Request is one command to judge and the context it would run in.
type Request struct {
	// Command is the command line exactly as the agent proposed it.
	Command string
	// Cwd is the absolute working directory the command would start in; "" means
	// unknown, and relative rm -rf targets then count as outside the project.
	Cwd string
	// Env holds the environment the command would inherit (HOME, TMPDIR, git
	// settings, ...). Variables absent from Env are treated as unknown, not empty.
	Env map[string]string
	// Mode selects the rule set; the zero value is guard.ModeDefault.
	Mode guard.Mode
	// Shell is the command language; "" means ShellBash.
	Shell Shell
	// Rules are custom rules in force, typically from LoadRuleFiles.
	Rules []events.GuardRule
	// Policy fine-tunes the built-in rules; the zero value keeps the defaults.
	Policy Policy
}

// Policy adjusts the built-in rules for one request. It mirrors the policy knobs
// of upstream's configuration so that a project can loosen or tighten single
// rules without switching modes.
type Policy struct {
	// RuleSwitches turns single built-in rules on (true) or off (false) by rule
	// id, for example {"git.reset_hard": false} or {"rm.paranoid": true}.
	// Catastrophic rules (see guard.RuleCatalogue) cannot be switched off.
	RuleSwitches map[string]bool
	// DisableDestructive switches off every destructive-command rule that is not
	// catastrophic. Secret and policy-file protection stay on.
	DisableDestructive bool
	// AllowPaths are directories (absolute or starting with "~/") under which
	// recursive deletes are allowed even outside the working directory.
	AllowPaths []string
	// Wrappers are extra command names that only run their arguments, like the
	// built-in sudo or nohup, so that "wrapper git reset --hard" is judged as
	// "git reset --hard".
	Wrappers []string
	// ProtectedPaths are files the agent must not modify, move or delete, such
	// as the guard's own rule files. Their parent directories are protected from
	// deletion and renaming too.
	ProtectedPaths []string
	// DisableSecrets switches off secret-file protection entirely.
	DisableSecrets bool
	// SecretDenyPaths are extra paths (relative to Cwd, absolute, or "~/...")
	// treated as secrets.
	SecretDenyPaths []string
	// SecretAllowPaths are paths exempt from secret protection.
	SecretAllowPaths []string
}

// Decision is the verdict on one Request.
type Decision struct {
	// Decision is guard.Allow or guard.Block.
	Decision string `json:"decision"`
	// Rule is the stable id of the rule that blocked, like "git.reset_hard",
	// "rm.outside_cwd" or "custom:<name>"; empty when allowed.
	Rule string `json:"rule,omitempty"`
	// Segment is the part of the command that triggered the rule.
	Segment string `json:"segment,omitempty"`
	// Reason explains the block to a person.
	Reason string `json:"reason,omitempty"`
}

// Blocked reports whether the decision is guard.Block.
func (d Decision) Blocked() bool { return d.Decision == guard.Block }

func allowDecision() Decision { return Decision{Decision: guard.Allow} }
