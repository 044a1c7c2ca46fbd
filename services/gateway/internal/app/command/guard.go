package command

import (
	"context"
	"path/filepath"
	"strings"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/events"
	"github.com/phantom-run/phantom/contracts/guard"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/contracts/subjects"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
)

// EventAppender appends configuration events to the event log.
type EventAppender interface {
	Append(ctx context.Context, ev events.Payload) error
}

// GuardPolicies is the "configure the safety guard" use case: the gateway
// owns the guard_policy aggregate; the safety-guard service and the
// guard_policies read model follow its events.
type GuardPolicies struct {
	events EventAppender
}

// NewGuardPolicies returns the use case.
func NewGuardPolicies(events EventAppender) *GuardPolicies { return &GuardPolicies{events: events} }

// Save validates the policy and records it, replacing the scope's previous one.
func (c *GuardPolicies) Save(ctx context.Context, req api.SaveGuardPolicy) (api.SavedGuardPolicy, error) {
	target, err := checkScope(req.PolicyScope)
	if err != nil {
		return api.SavedGuardPolicy{}, err
	}
	if err := guard.ValidatePolicy(req.Policy); err != nil {
		return api.SavedGuardPolicy{}, apperr.Invalid("policy", "policy: %v", err)
	}
	id := events.GuardPolicyID(req.Scope, target)
	ev := events.GuardPolicySaved{PolicyID: id, Scope: req.Scope, Target: target, Policy: req.Policy}
	if err := c.events.Append(ctx, ev); err != nil {
		return api.SavedGuardPolicy{}, apperr.Unavailable(err, "could not record the policy; retry later")
	}
	return api.SavedGuardPolicy{ID: id, Scope: req.Scope, Target: target, Policy: req.Policy}, nil
}

// Delete removes the policy of one scope. Removing a policy that is not
// there is not an error.
func (c *GuardPolicies) Delete(ctx context.Context, s api.PolicyScope) error {
	target, err := checkScope(s)
	if err != nil {
		return err
	}
	ev := events.GuardPolicyDeleted{PolicyID: events.GuardPolicyID(s.Scope, target), Scope: s.Scope, Target: target}
	if err := c.events.Append(ctx, ev); err != nil {
		return apperr.Unavailable(err, "could not remove the policy; retry later")
	}
	return nil
}

// checkScope validates a scope and returns its target in canonical form.
func checkScope(s api.PolicyScope) (string, error) {
	switch s.Scope {
	case events.GuardScopeGlobal:
		if s.Target != "" {
			return "", apperr.Invalid("target", "the global scope has no target, got %q", s.Target)
		}
		return "", nil
	case events.GuardScopeWorkspace:
		t := s.Target
		if len(t) > 1 {
			t = strings.TrimRight(t, "/")
		}
		if !filepath.IsAbs(t) || filepath.Clean(t) != t || len(t) > runs.MaxWorkspaceBytes || strings.ContainsRune(t, 0) {
			return "", apperr.Invalid("target", "a workspace policy's target must be an absolute, clean directory path (no '..'), got %q", s.Target)
		}
		return t, nil
	case events.GuardScopeProfile:
		if !subjects.ValidToken(s.Target) {
			return "", apperr.Invalid("target", "a profile policy's target must be a profile name: 1-128 characters of A-Z, a-z, 0-9, '_' or '-', got %q", s.Target)
		}
		return s.Target, nil
	}
	return "", apperr.Invalid("scope", "scope must be %s, %s or %s, got %q", events.GuardScopeGlobal, events.GuardScopeWorkspace, events.GuardScopeProfile, s.Scope)
}
