package policy

import (
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/services/safety-guard/policy/internal/custom"
)

// A command on its way through the walker is the context its rule families
// judge it in: each family declares the narrow view of the walker it needs
// (a Context interface of its own), and cmdCall implements all of them.
var _ custom.Context = (*cmdCall)(nil)

// Rules are the request's custom rules.
func (cc *cmdCall) Rules() []events.GuardRule { return cc.r.req.Rules }

// Depth is how deeply the command is nested in code handed to shells.
func (cc *cmdCall) Depth() int { return cc.sc.depth }
