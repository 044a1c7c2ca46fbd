package httpapi

import (
	"net/http"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/runs"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
)

// sessionsGroup is the specification's interactive session commands:
// start_interactive_session, send_session_input, end_session, resume_session.
// A session is an interactive run; its id is the run's id.
type sessionsGroup struct {
	api     *API
	control *command.Agents
}

func (g *sessionsGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodPost, Pattern: "/v1/sessions", OperationID: "startInteractiveSession", Handler: g.start},
		{Method: http.MethodPost, Pattern: "/v1/sessions/{id}/input", OperationID: "sendSessionInput", Handler: g.input},
		{Method: http.MethodPost, Pattern: "/v1/sessions/{id}/end", OperationID: "endSession", Handler: g.end},
		{Method: http.MethodPost, Pattern: "/v1/sessions/{id}/resume", OperationID: "resumeSession", Handler: g.resume},
	}
}

func (g *sessionsGroup) start(w http.ResponseWriter, r *http.Request) {
	var spec runs.Spec
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &spec) {
		return
	}
	res, err := g.control.StartSession(r.Context(), spec)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+res.RunID)
	writeJSON(w, http.StatusAccepted, res)
}

func (g *sessionsGroup) input(w http.ResponseWriter, r *http.Request) {
	var req api.SessionInput
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	id, err := g.control.Input(r.Context(), r.PathValue("id"), req.Text, req.End)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.InputAccepted{RunID: r.PathValue("id"), InputID: id})
}

func (g *sessionsGroup) end(w http.ResponseWriter, r *http.Request) {
	if _, err := g.control.Input(r.Context(), r.PathValue("id"), "", true); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.ControlAccepted{RunID: r.PathValue("id"), Status: api.StatusEnding})
}

func (g *sessionsGroup) resume(w http.ResponseWriter, r *http.Request) {
	var req api.ResumeSession
	if r.ContentLength != 0 && !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	res, err := g.control.ResumeSession(r.Context(), r.PathValue("id"), req.Prompt)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+res.RunID)
	writeJSON(w, http.StatusAccepted, res)
}
