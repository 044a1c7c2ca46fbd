package family

import "github.com/phantom-run/phantom/contracts/guard"

// Verdicts is how a family decides: the request's mode, its rule switches,
// and a block that a switched-off rule turns into nil (analysis goes on with
// the other rules).
type Verdicts interface {
	Mode() guard.Mode
	// Switched reports whether the policy switches rule id on explicitly.
	Switched(id string) bool
	// Enabled reports whether rule id is active for this request.
	Enabled(id string) bool
	// Block returns a finding for rule id, or nil when the rule is off.
	Block(id, reason, segment string) *Finding
}

const reasonDynamicCmdIn = "%s can execute arbitrary commands from dynamic input (%s)."

// CarrierDynamic blocks a command whose structure comes from xargs or
// parallel input (or, outside carriers, from data the engine cannot see).
func CarrierDynamic(v Verdicts, c *Call, why string) *Finding {
	switch c.Carrier {
	case "xargs":
		return v.Block(guard.RuleXargsShellDynamic, FmtReason(reasonDynamicCmdIn, "xargs", why)+" Use explicit commands instead.", c.Seg)
	case "parallel":
		return v.Block(guard.RuleParallelShellDynamic, FmtReason(reasonDynamicCmdIn, "parallel", why)+" Use explicit commands instead.", c.Seg)
	}
	return v.Block(guard.RuleDynamicScript, "Command structure comes from data the engine cannot see ("+why+").", c.Seg)
}

// DynStructure reports options or subcommands of a guarded command built from
// substitutions: blocked in strict mode only, since in default mode the engine
// judges what it can see, like upstream.
func DynStructure(v Verdicts, c *Call, why string) *Finding {
	if !v.Mode().Has(guard.ModeStrict) && !v.Switched(guard.RuleDynamicStructure) {
		return nil
	}
	return v.Block(guard.RuleDynamicStructure, "shell substitution output can change guarded command structure ("+why+"); write it literally.", c.Seg)
}
