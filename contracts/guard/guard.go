// Package guard is the safety guard's vocabulary that crosses services: the
// decisions, the policy modes, the ids of the built-in rules (which policies
// switch and audits name), the custom rule file format, and the validation of
// a policy document before it is saved.
//
// The engine that applies the rules lives in services/safety-guard; a
// service asks it over phantom.rpc.guard.check (pkg/guardclient) with the
// bodies of contracts/rpc.
package guard

// Decisions of a check (rpc.GuardCheckReply.Decision).
const (
	Allow = "allow"
	Block = "block"
)
