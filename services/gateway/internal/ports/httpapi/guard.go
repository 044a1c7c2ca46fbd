package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// guardGroup is the safety guard's part of the API: its decisions
// (policy_audits) and its configuration (the policy of each scope).
type guardGroup struct {
	api      *API
	guard    *query.Guard
	policies *command.GuardPolicies
}

func (g *guardGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Pattern: "/v1/policy-audits", OperationID: "listPolicyAudits", Handler: g.audits},
		{Method: http.MethodGet, Pattern: "/v1/guard/policies", OperationID: "listGuardPolicies", Handler: g.list},
		{Method: http.MethodPut, Pattern: "/v1/guard/policies", OperationID: "saveGuardPolicy", Handler: g.save},
		{Method: http.MethodDelete, Pattern: "/v1/guard/policies", OperationID: "deleteGuardPolicy", Handler: g.delete},
	}
}

func (g *guardGroup) audits(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := query.AuditParams{Cursor: q.Get("cursor"), RunID: q.Get("run"), Decision: q.Get("decision")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			writeError(w, r, g.api.deps.Logger, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %q", query.MaxLimit, v))
			return
		}
		p.Limit = n
	}
	page, err := g.guard.Audits(r.Context(), p)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (g *guardGroup) list(w http.ResponseWriter, r *http.Request) {
	list, err := g.guard.Policies(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

func (g *guardGroup) save(w http.ResponseWriter, r *http.Request) {
	var req api.SaveGuardPolicy
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	saved, err := g.policies.Save(r.Context(), req)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, saved)
}

func (g *guardGroup) delete(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := g.policies.Delete(r.Context(), api.PolicyScope{Scope: q.Get("scope"), Target: q.Get("target")}); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// attachPolicy adds what the safety guard decided about a run to its detail.
func (a *API) attachPolicy(ctx context.Context, run *api.Run) error {
	if a.deps.Guard == nil {
		return nil
	}
	p, err := a.deps.Guard.RunPolicy(ctx, run.ID)
	if err != nil {
		return err
	}
	run.Policy = &p
	return nil
}
