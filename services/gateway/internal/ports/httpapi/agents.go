package httpapi

import (
	"net/http"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// agentsGroup shows what agents did (messages, tool calls, usage) and what
// the runners can run (capabilities), and pauses and resumes runs.
type agentsGroup struct {
	api     *API
	read    *query.Agents
	control *command.Agents
}

func (g *agentsGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Pattern: "/v1/capabilities", OperationID: "listCapabilities", Handler: g.capabilities},
		{Method: http.MethodPost, Pattern: "/v1/capabilities/refresh", OperationID: "refreshCapabilities", Handler: g.refresh},
		{Method: http.MethodGet, Pattern: "/v1/runs/{id}/messages", OperationID: "listRunMessages", Handler: g.messages},
		{Method: http.MethodGet, Pattern: "/v1/runs/{id}/tool-calls", OperationID: "listRunToolCalls", Handler: g.toolCalls},
		{Method: http.MethodGet, Pattern: "/v1/runs/{id}/usage", OperationID: "getRunUsage", Handler: g.usage},
		{Method: http.MethodPost, Pattern: "/v1/runs/{id}/pause", OperationID: "pauseRun", Handler: g.pause},
		{Method: http.MethodPost, Pattern: "/v1/runs/{id}/resume", OperationID: "resumeRun", Handler: g.resume},
	}
}

func (g *agentsGroup) capabilities(w http.ResponseWriter, r *http.Request) {
	caps, err := g.read.Capabilities(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.CapabilityList{Capabilities: caps})
}

func (g *agentsGroup) refresh(w http.ResponseWriter, r *http.Request) {
	ids, err := g.control.RefreshCapabilities(r.Context())
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.RefreshAccepted{Runners: ids})
}

func (g *agentsGroup) messages(w http.ResponseWriter, r *http.Request) {
	out, err := g.read.Messages(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.MessageList{Messages: out})
}

func (g *agentsGroup) toolCalls(w http.ResponseWriter, r *http.Request) {
	out, err := g.read.ToolCalls(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ToolCallList{ToolCalls: out})
}

func (g *agentsGroup) usage(w http.ResponseWriter, r *http.Request) {
	out, err := g.read.Usage(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (g *agentsGroup) pause(w http.ResponseWriter, r *http.Request) {
	if err := g.control.Pause(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.ControlAccepted{RunID: r.PathValue("id"), Status: api.StatusPauseRequested})
}

func (g *agentsGroup) resume(w http.ResponseWriter, r *http.Request) {
	if err := g.control.Resume(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.ControlAccepted{RunID: r.PathValue("id"), Status: api.StatusResumeRequested})
}
