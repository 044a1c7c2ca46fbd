package events

import (
	"crypto/sha256"
	"encoding/hex"
)

// AggregateGuardPolicy is the safety guard's configuration: one policy per
// scope (global, a workspace, a profile). The gateway owns it.
const AggregateGuardPolicy = "guard_policy"

// Guard policy scopes. A request is judged under every policy that applies
// to it, in this order, a later one overriding an earlier one where they
// disagree: global, then the nearest workspace policy, then the run's
// profile's.
const (
	GuardScopeGlobal    = "global"
	GuardScopeWorkspace = "workspace"
	GuardScopeProfile   = "profile"
)

// GuardPolicyID is the aggregate id of the policy of one scope: "global",
// or "workspace-"/"profile-" followed by 20 hex digits of the SHA-256 of
// the target (a path or a profile name), so that any target is one subject
// token and the same target always has the same id.
func GuardPolicyID(scope, target string) string {
	if scope == GuardScopeGlobal {
		return GuardScopeGlobal
	}
	sum := sha256.Sum256([]byte(target))
	return scope + "-" + hex.EncodeToString(sum[:10])
}

// GuardRule is a custom rule in the format of upstream claude-code-safety-net's
// .safety-net.json: a command (and optional subcommand) is blocked when it
// has any of the blocked arguments.
type GuardRule struct {
	Name       string   `json:"name"`
	Command    string   `json:"command"`
	Subcommand string   `json:"subcommand,omitempty"`
	BlockArgs  []string `json:"block_args"`
	Reason     string   `json:"reason"`
}

// GuardPolicy is what one scope says about the safety guard. Every field is
// optional; an absent one leaves what an earlier scope said.
type GuardPolicy struct {
	// Mode is a policy mode (default, strict, paranoid, paranoid_rm,
	// paranoid_interpreters, worktree, or a "+"-joined combination).
	Mode string `json:"mode,omitempty"`
	// Rules are custom rules; a rule replaces an earlier scope's rule of the
	// same name (case-insensitively).
	Rules []GuardRule `json:"rules,omitempty"`
	// RuleSwitches turns built-in rules on (true) or off (false) by rule id
	// ("git.push_force": false). Catastrophic rules cannot be switched off.
	RuleSwitches map[string]bool `json:"ruleSwitches,omitempty"`
	// DisableDestructive switches off every destructive-command rule that is
	// not catastrophic.
	DisableDestructive *bool `json:"disableDestructive,omitempty"`
	// AllowPaths are directories (absolute or "~/...") under which recursive
	// deletes are allowed.
	AllowPaths []string `json:"allowPaths,omitempty"`
	// Wrappers are extra command names that only run their arguments.
	Wrappers []string `json:"wrappers,omitempty"`
	// DisableSecrets switches off the protection of secret files.
	DisableSecrets *bool `json:"disableSecrets,omitempty"`
	// SecretDenyPaths are extra paths treated as secrets.
	SecretDenyPaths []string `json:"secretDenyPaths,omitempty"`
	// SecretAllowPaths are paths exempt from secret protection.
	SecretAllowPaths []string `json:"secretAllowPaths,omitempty"`
	// ProtectedPaths are files the agent must not modify, move or delete.
	ProtectedPaths []string `json:"protectedPaths,omitempty"`
}

// GuardPolicySaved sets the safety-guard policy of one scope, replacing the
// previous one of that scope.
type GuardPolicySaved struct {
	// PolicyID is GuardPolicyID(Scope, Target).
	PolicyID string `json:"policyId"`
	// Scope is GuardScopeGlobal, GuardScopeWorkspace or GuardScopeProfile.
	Scope string `json:"scope"`
	// Target is the workspace's absolute path or the profile's name; "" for global.
	Target string      `json:"target,omitempty"`
	Policy GuardPolicy `json:"policy"`
}

// GuardPolicyDeleted removes the policy of one scope.
type GuardPolicyDeleted struct {
	PolicyID string `json:"policyId"`
	Scope    string `json:"scope"`
	Target   string `json:"target,omitempty"`
}

func (GuardPolicySaved) EventType() string   { return "guard_policy.saved" }
func (GuardPolicyDeleted) EventType() string { return "guard_policy.deleted" }

func (e GuardPolicySaved) AggregateID() string   { return e.PolicyID }
func (e GuardPolicyDeleted) AggregateID() string { return e.PolicyID }
