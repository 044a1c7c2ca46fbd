package api

import (
	"encoding/json"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
)

// PolicyAudit is one safety-guard decision (a run.policy_audit event) as
// the policy_audits read model has it. Absent values are null.
type PolicyAudit struct {
	Seq      int64     `json:"seq"`
	ID       string    `json:"id"`
	RunID    string    `json:"runId"`
	Attempt  *int      `json:"attempt"`
	Time     time.Time `json:"time"`
	Decision string    `json:"decision"`
	Rule     *string   `json:"rule"`
	// Command is the judged command, secrets redacted.
	Command  string   `json:"command"`
	Segment  *string  `json:"segment"`
	Reason   *string  `json:"reason"`
	Cwd      *string  `json:"cwd"`
	Mode     *string  `json:"mode"`
	Origin   *string  `json:"origin"`
	Agent    *string  `json:"agent"`
	Policies []string `json:"policies"`
}

// PolicyAuditPage is one page of GET /v1/policy-audits, newest first.
type PolicyAuditPage struct {
	Audits []PolicyAudit `json:"audits"`
	// NextCursor fetches the next (older) page; null on the last page.
	NextCursor *string `json:"nextCursor"`
}

// GuardPolicyRecord is one scope's safety-guard policy as the
// guard_policies read model has it (GET /v1/guard/policies).
type GuardPolicyRecord struct {
	ID     string `json:"id"`
	Scope  string `json:"scope"`
	Target string `json:"target"`
	// Policy is an events.GuardPolicy, passed on as the read model keeps it.
	Policy    json.RawMessage `json:"policy"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

// GuardPolicyList is every configured safety-guard policy.
type GuardPolicyList struct {
	Policies []GuardPolicyRecord `json:"policies"`
}

// PolicyScope names one scope: global, a workspace (its absolute path) or a
// profile (its name).
type PolicyScope struct {
	Scope  string `json:"scope"`
	Target string `json:"target,omitempty"`
}

// SaveGuardPolicy is the body of PUT /v1/guard/policies: the policy of one
// scope, replacing the scope's previous one.
type SaveGuardPolicy struct {
	PolicyScope
	Policy events.GuardPolicy `json:"policy"`
}

// SavedGuardPolicy is a policy as it was recorded.
type SavedGuardPolicy struct {
	ID     string             `json:"id"`
	Scope  string             `json:"scope"`
	Target string             `json:"target"`
	Policy events.GuardPolicy `json:"policy"`
}
