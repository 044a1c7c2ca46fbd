package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/phantom-run/phantom/contracts/events"
)

// Audit is one safety-guard decision (GET /v1/policy-audits).
type Audit struct {
	Seq      int64     `json:"seq"`
	RunID    string    `json:"runId"`
	Attempt  *int      `json:"attempt"`
	Time     time.Time `json:"time"`
	Decision string    `json:"decision"`
	Rule     string    `json:"rule"`
	Command  string    `json:"command"`
	Segment  string    `json:"segment"`
	Reason   string    `json:"reason"`
	Cwd      string    `json:"cwd"`
	Mode     string    `json:"mode"`
	Origin   string    `json:"origin"`
	Agent    string    `json:"agent"`
	Policies []string  `json:"policies"`
}

// AuditPage is one page of decisions, newest first.
type AuditPage struct {
	Audits     []Audit `json:"audits"`
	NextCursor string  `json:"nextCursor,omitempty"`
}

// AuditFilter selects decisions.
type AuditFilter struct {
	RunID, Decision, Cursor string
	Limit                   int
}

// Audits returns one page of the safety guard's decisions.
func (c *Client) Audits(ctx context.Context, f AuditFilter) (AuditPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"run": f.RunID, "decision": f.Decision, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var p AuditPage
	err := c.do(ctx, http.MethodGet, "/v1/policy-audits", q, nil, &p)
	return p, err
}

// GuardPolicy is the policy of one scope.
type GuardPolicy struct {
	ID        string             `json:"id"`
	Scope     string             `json:"scope"`
	Target    string             `json:"target"`
	Policy    events.GuardPolicy `json:"policy"`
	UpdatedAt time.Time          `json:"updatedAt,omitempty"`
}

// GuardPolicies lists the configured policies.
func (c *Client) GuardPolicies(ctx context.Context) ([]GuardPolicy, error) {
	var out struct {
		Policies []GuardPolicy `json:"policies"`
	}
	err := c.do(ctx, http.MethodGet, "/v1/guard/policies", nil, nil, &out)
	return out.Policies, err
}

// SaveGuardPolicy sets the policy of one scope and returns it as recorded.
func (c *Client) SaveGuardPolicy(ctx context.Context, scope, target string, p events.GuardPolicy) (GuardPolicy, error) {
	body, err := json.Marshal(map[string]any{"scope": scope, "target": target, "policy": p})
	if err != nil {
		return GuardPolicy{}, fmt.Errorf("could not encode the policy: %w", err)
	}
	var out GuardPolicy
	err = c.do(ctx, http.MethodPut, "/v1/guard/policies", nil, body, &out)
	return out, err
}

// DeleteGuardPolicy removes the policy of one scope.
func (c *Client) DeleteGuardPolicy(ctx context.Context, scope, target string) error {
	q := url.Values{"scope": {scope}}
	if target != "" {
		q.Set("target", target)
	}
	return c.do(ctx, http.MethodDelete, "/v1/guard/policies", q, nil, nil)
}
