package policy

import (
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/custom"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/family"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/git"
)

// A command on its way through the walker is the context its rule families
// judge it in: each family declares the narrow view of the walker it needs
// (a Context interface of its own), and cmdCall implements all of them.
var (
	_ custom.Context = (*cmdCall)(nil)
	_ git.Context    = (*cmdCall)(nil)
)

// Rules are the request's custom rules.
func (cc *cmdCall) Rules() []events.GuardRule { return cc.r.req.Rules }

// Depth is how deeply the command is nested in code handed to shells.
func (cc *cmdCall) Depth() int { return cc.sc.depth }

// Mode is the request's mode.
func (cc *cmdCall) Mode() guard.Mode { return cc.r.mode }

// Switched reports whether the policy switches rule id on explicitly.
func (cc *cmdCall) Switched(id string) bool { return cc.r.Switched(id) }

// Enabled reports whether rule id is active for this request.
func (cc *cmdCall) Enabled(id string) bool { return cc.r.Enabled(id) }

// Block returns a finding for rule id, or nil when the rule is off.
func (cc *cmdCall) Block(id, reason, segment string) *family.Finding {
	return cc.r.Block(id, reason, segment)
}

// Vars are the shell variables the command sees; the rules only read them.
func (cc *cmdCall) Vars() map[string]family.Var { return cc.sc.vars }
