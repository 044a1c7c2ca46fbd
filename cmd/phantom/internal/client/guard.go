package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
)

// AuditFilter selects decisions.
type AuditFilter struct {
	RunID, Decision, Cursor string
	Limit                   int
}

// Audits returns one page of the safety guard's decisions.
func (c *Client) Audits(ctx context.Context, f AuditFilter) (api.PolicyAuditPage, error) {
	q := url.Values{}
	for k, v := range map[string]string{"run": f.RunID, "decision": f.Decision, "cursor": f.Cursor} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var p api.PolicyAuditPage
	err := c.do(ctx, http.MethodGet, "/v1/policy-audits", q, nil, &p)
	return p, err
}

// GuardPolicies lists the configured policies.
func (c *Client) GuardPolicies(ctx context.Context) ([]api.GuardPolicyRecord, error) {
	var out api.GuardPolicyList
	err := c.do(ctx, http.MethodGet, "/v1/guard/policies", nil, nil, &out)
	return out.Policies, err
}

// SaveGuardPolicy sets the policy of one scope and returns it as recorded.
func (c *Client) SaveGuardPolicy(ctx context.Context, scope, target string, p events.GuardPolicy) (api.SavedGuardPolicy, error) {
	body, err := json.Marshal(api.SaveGuardPolicy{PolicyScope: api.PolicyScope{Scope: scope, Target: target}, Policy: p})
	if err != nil {
		return api.SavedGuardPolicy{}, fmt.Errorf("could not encode the policy: %w", err)
	}
	var out api.SavedGuardPolicy
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
