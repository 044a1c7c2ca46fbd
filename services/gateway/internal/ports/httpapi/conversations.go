package httpapi

import (
	"net/http"
	"strconv"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
	"github.com/phantom-run/phantom/services/gateway/internal/app/command"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// conversationsGroup is the specification's conversation commands:
// create_conversation, list_conversations, get_conversation,
// send_conversation_message, rename_conversation, archive_conversation.
type conversationsGroup struct {
	api     *API
	read    *query.Agents
	control *command.Agents
}

func (g *conversationsGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodPost, Pattern: "/v1/conversations", OperationID: "createConversation", Handler: g.create},
		{Method: http.MethodGet, Pattern: "/v1/conversations", OperationID: "listConversations", Handler: g.list},
		{Method: http.MethodGet, Pattern: "/v1/conversations/{id}", OperationID: "getConversation", Handler: g.get},
		{Method: http.MethodPatch, Pattern: "/v1/conversations/{id}", OperationID: "renameConversation", Handler: g.rename},
		{Method: http.MethodPost, Pattern: "/v1/conversations/{id}/messages", OperationID: "sendConversationMessage", Handler: g.send},
		{Method: http.MethodPost, Pattern: "/v1/conversations/{id}/archive", OperationID: "archiveConversation", Handler: g.archive},
	}
}

func (g *conversationsGroup) create(w http.ResponseWriter, r *http.Request) {
	var req api.NewConversation
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	c, err := g.control.CreateConversation(r.Context(), req)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	w.Header().Set("Location", "/v1/conversations/"+c.ID)
	writeJSON(w, http.StatusCreated, c)
}

func (g *conversationsGroup) list(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > query.MaxLimit {
			writeError(w, r, g.api.deps.Logger, apperr.Invalid("limit", "limit must be an integer in 1..=%d, got %q", query.MaxLimit, v))
			return
		}
		limit = n
	}
	archived, err := boolParam(r, "includeArchived", false)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	out, err := g.read.Conversations(r.Context(), archived, limit)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, api.ConversationList{Conversations: out})
}

func (g *conversationsGroup) get(w http.ResponseWriter, r *http.Request) {
	c, err := g.read.Conversation(r.Context(), r.PathValue("id"))
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (g *conversationsGroup) rename(w http.ResponseWriter, r *http.Request) {
	var req api.RenameConversation
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	if err := g.control.RenameConversation(r.Context(), r.PathValue("id"), req.Title); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.ConversationRenamed{ID: r.PathValue("id"), Title: req.Title})
}

func (g *conversationsGroup) send(w http.ResponseWriter, r *http.Request) {
	var req api.SendMessage
	if !decodeJSON(w, r, g.api.deps.Limits.MaxBodyBytes, &req) {
		return
	}
	res, err := g.control.SendMessage(r.Context(), r.PathValue("id"), req.Text, req.Agent)
	if err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	w.Header().Set("Location", "/v1/runs/"+res.RunID)
	writeJSON(w, http.StatusAccepted, res)
}

func (g *conversationsGroup) archive(w http.ResponseWriter, r *http.Request) {
	if err := g.control.ArchiveConversation(r.Context(), r.PathValue("id")); err != nil {
		writeError(w, r, g.api.deps.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, api.ConversationArchived{ID: r.PathValue("id"), Archived: true})
}
