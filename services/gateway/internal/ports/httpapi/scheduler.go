package httpapi

import (
	"bytes"
	"io"
	"net/http"
	"strconv"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// schedulerGroup is the scheduler's area: the queue, providers and their
// holds, the fleet of runners, profiles, and cancel and rerun of a run.
type schedulerGroup struct {
	api      *API
	view     *query.SchedulerView
	cancel   *command.Cancel
	rerun    *command.Rerun
	profiles *command.Profiles
}

func (g *schedulerGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Pattern: "/v1/queue", OperationID: "listQueue", Handler: g.queue},
		{Method: http.MethodGet, Pattern: "/v1/providers", OperationID: "listProviders", Handler: g.providers},
		{Method: http.MethodGet, Pattern: "/v1/runners", OperationID: "listRunners", Handler: g.runners},
		{Method: http.MethodGet, Pattern: "/v1/profiles", OperationID: "listProfiles", Handler: g.listProfiles},
		{Method: http.MethodGet, Pattern: "/v1/profiles/{name}", OperationID: "getProfile", Handler: g.getProfile},
		{Method: http.MethodPut, Pattern: "/v1/profiles/{name}", OperationID: "saveProfile", Handler: g.saveProfile},
		{Method: http.MethodPost, Pattern: "/v1/runs/{id}/cancel", OperationID: "cancelRun", Handler: g.cancelRun},
		{Method: http.MethodPost, Pattern: "/v1/runs/{id}/rerun", OperationID: "rerunRun", Handler: g.rerunRun},
	}
}

func (g *schedulerGroup) queue(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, r, g.api.deps.Logger, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %q", query.MaxQueueLimit, v))
			return
		}
		limit = n
	}
	out, err := g.view.Queue(r.Context(), q.Get("pool"), q.Get("provider"), limit)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *schedulerGroup) providers(w http.ResponseWriter, r *http.Request) {
	ps, err := g.view.Providers(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ProviderList{Providers: ps})
}

func (g *schedulerGroup) runners(w http.ResponseWriter, r *http.Request) {
	rs, err := g.view.Runners(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.RunnerList{Runners: rs})
}

func (g *schedulerGroup) listProfiles(w http.ResponseWriter, r *http.Request) {
	ps, err := g.view.Profiles(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ProfileList{Profiles: ps})
}

func (g *schedulerGroup) getProfile(w http.ResponseWriter, r *http.Request) {
	p, err := g.profiles.Get(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *schedulerGroup) saveProfile(w http.ResponseWriter, r *http.Request) {
	var req api.SaveProfile
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	p, err := g.profiles.Save(r.Context(), r.PathValue("name"), req)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *schedulerGroup) cancelRun(w http.ResponseWriter, r *http.Request) {
	var body api.CancelRequest
	if !decodeOptionalJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &body) {
		return
	}
	out, err := g.cancel.Run(r.Context(), r.PathValue("id"), body.Reason, requestedBy)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	status := http.StatusOK
	if out.Status == api.StatusCanceling {
		status = http.StatusAccepted
	}
	writeJSON(w, status, out)
}

func (g *schedulerGroup) rerunRun(w http.ResponseWriter, r *http.Request) {
	var overrides runs.Spec
	if !decodeOptionalJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &overrides) {
		g.api.metrics.submits.WithLabelValues("invalid").Inc()
		return
	}
	res, err := g.rerun.Run(r.Context(), r.PathValue("id"), overrides, requestedBy)
	if err != nil {
		g.api.metrics.submits.WithLabelValues(submitOutcome(err)).Inc()
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	g.api.metrics.submits.WithLabelValues(res.Status).Inc()
	w.Header().Set("Location", "/v1/runs/"+res.RunID)
	writeJSON(w, http.StatusAccepted, res)
}

// decodeOptionalJSON is decodeJSON for a body that may be left out.
func decodeOptionalJSON(w http.ResponseWriter, r *http.Request, limit int64, dst any) bool {
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		return true
	}
	if r.ContentLength < 0 {
		// Chunked: peek for an empty body.
		var buf [1]byte
		n, err := r.Body.Read(buf[:])
		if n == 0 && err == io.EOF {
			return true
		}
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(buf[:n]), r.Body))
	}
	return decodeJSON(w, r, limit, dst)
}
