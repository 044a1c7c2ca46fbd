package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
	"github.com/phantom-run/phantom/contracts/problems"
	"github.com/phantom-run/phantom/services/gateway/internal/app/apperr"
	"github.com/phantom-run/phantom/services/gateway/internal/app/query"
)

// runEventsGroup streams a run's events as Server-Sent Events.
type runEventsGroup struct {
	api    *API
	events *query.Events
}

func (g *runEventsGroup) Routes() []Route {
	return []Route{
		{Method: http.MethodGet, Pattern: "/v1/runs/{id}/events", OperationID: "streamRunEvents", Handler: g.stream, Streaming: true},
	}
}

// stream answers with the run's events after Last-Event-ID (or the after
// parameter), one SSE message per event, flushed as it comes:
//
//	id: <stream sequence>
//	event: run_event
//	data: {"seq":…,"id":…,"type":…,"source":…,"time":…,"runId":…,"attempt":…,"data":{…}}
//
// An idle stream gets a comment every heartbeat interval so that proxies
// keep it open. With follow (the default) it ends after the run's terminal
// event; without, at the current end of the log. When there is nothing to
// send it answers 204, which also tells a browser's EventSource to stop
// reconnecting.
func (g *runEventsGroup) stream(w http.ResponseWriter, r *http.Request) {
	log := g.api.deps.Logger
	after, err := resumePoint(r)
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	follow, err := boolParam(r, "follow", true)
	if err != nil {
		writeError(w, r, log, err)
		return
	}
	select {
	case g.api.streams <- struct{}{}:
		defer func() { <-g.api.streams }()
	default:
		writeProblem(w, http.StatusServiceUnavailable, problems.Unavailable, "",
			fmt.Sprintf("too many event streams are open (at most %d); retry later", cap(g.api.streams)), "")
		return
	}
	// The stream ends when the client leaves or the gateway shuts down.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(g.api.deps.Stopping, cancel)()

	st, err := g.events.Open(ctx, query.StreamRequest{RunID: r.PathValue("id"), After: after, Follow: follow})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		writeError(w, r, log, err)
		return
	}
	defer st.Close()
	if st.Empty() {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	g.api.metrics.streams.Inc()
	defer g.api.metrics.streams.Dec()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// nginx buffers responses unless told otherwise.
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(frame []byte) error {
		// A client that stops reading must not hold the stream forever.
		_ = rc.SetWriteDeadline(time.Now().Add(g.api.deps.Limits.WriteTimeout))
		if _, err := w.Write(frame); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := rc.Flush(); err != nil {
		return
	}
	heartbeat := g.api.deps.Limits.Heartbeat
	for {
		hctx, hcancel := context.WithTimeout(ctx, heartbeat)
		ev, err := st.Next(hctx)
		hcancel()
		switch {
		case err == nil:
			frame, ferr := sseFrame(ev)
			if ferr != nil {
				log.ErrorContext(ctx, "could not encode an event", "seq", ev.Seq, "error", ferr)
				return
			}
			if send(frame) != nil {
				return
			}
		case errors.Is(err, io.EOF), ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
			if send([]byte(": heartbeat\n\n")) != nil {
				return
			}
		default:
			// The client resumes from its Last-Event-ID: ending is safe.
			log.WarnContext(ctx, "event stream broke", "run", r.PathValue("id"), "error", err)
			return
		}
	}
}

// sseFrame renders one event. The JSON encoder writes no raw newline, so
// the data fits on one data: line.
func sseFrame(ev api.RunEvent) ([]byte, error) {
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 0, len(data)+48)
	frame = append(frame, "id: "...)
	frame = strconv.AppendUint(frame, ev.Seq, 10)
	frame = append(frame, "\nevent: "+api.RunEventName+"\ndata: "...)
	frame = append(frame, data...)
	frame = append(frame, "\n\n"...)
	return frame, nil
}

// resumePoint is the sequence to resume after: Last-Event-ID, which a
// reconnecting EventSource sends, wins over the after parameter, which
// stays in the URL it reconnects to.
func resumePoint(r *http.Request) (uint64, error) {
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, apperr.Invalid("Last-Event-ID", "Last-Event-ID must be an event id this stream sent (a non-negative integer), got %q", v)
		}
		return n, nil
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, apperr.Invalid("after", "after must be a stream sequence (a non-negative integer), got %q", v)
		}
		return n, nil
	}
	return 0, nil
}
