package httpapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// runsGroup submits, reads and lists runs.
type runsGroup struct {
	api    *API
	submit *command.Submit
	runs   *query.Runs
}

func (g *runsGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodPost, Pattern: "/v1/runs", OperationID: "submitRun", Handler: g.create},
		{Method: http.MethodGet, Pattern: "/v1/runs", OperationID: "listRuns", Handler: g.list},
		{Method: http.MethodGet, Pattern: "/v1/runs/{id}", OperationID: "getRun", Handler: g.get},
	}
}

// requestedBy is who the single-token API records as the submitter.
const requestedBy = "api"

func (g *runsGroup) create(w http.ResponseWriter, r *http.Request) {
	var spec runs.Spec
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &spec) {
		g.api.metrics.submits.WithLabelValues("invalid").Inc()
		return
	}
	res, err := g.submit.Run(r.Context(), command.SubmitRequest{Spec: spec, RequestedBy: requestedBy})
	if err != nil {
		g.api.metrics.submits.WithLabelValues(submitOutcome(err)).Inc()
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	g.api.metrics.submits.WithLabelValues(res.Status).Inc()
	w.Header().Set("Location", "/v1/runs/"+res.RunID)
	writeJSON(w, http.StatusAccepted, res)
}

func submitOutcome(err error) string {
	e, ok := apperr.As(err)
	switch {
	case !ok || e.Code == problems.Unavailable || e.Code == problems.Internal:
		return "error"
	case e.Instance != "":
		// Only a scheduler's rejection names the run it refused.
		return "rejected"
	}
	return "invalid"
}

func (g *runsGroup) get(w http.ResponseWriter, r *http.Request) {
	run, err := g.runs.Get(r.Context(), r.PathValue("id"))
	if err == nil {
		err = g.api.attachPolicy(r.Context(), &run)
	}
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, run)
}

func (g *runsGroup) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := query.ListParams{Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 {
			writeError(w, r, g.api.deps.Logger, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %q", query.MaxLimit, v))
			return
		}
		p.Limit = n
	}
	// status may repeat and may hold a comma-separated list.
	for _, v := range q["status"] {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				p.Statuses = append(p.Statuses, s)
			}
		}
	}
	archived, err := boolParam(r, "includeArchived", false)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	p.IncludeArchived = archived
	page, err := g.runs.List(r.Context(), p)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// boolParam reads an optional boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, apperr.Invalid(name, "%s must be true or false, got %q", name, v)
	}
	return b, nil
}
