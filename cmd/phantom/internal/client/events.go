package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/phantom-run/phantom/contracts/api"
)

// StreamOptions tune Events.
type StreamOptions struct {
	// Follow keeps the stream open until the run's terminal event; without
	// it the stream ends at the current end of the run's history.
	Follow bool
	// After resumes after this stream sequence (0: from the run's start).
	After uint64
	// GiveUpAfter is how long to keep reconnecting while nothing arrives
	// (default one minute).
	GiveUpAfter time.Duration
	// NotFoundGrace keeps retrying a run the API does not know yet for
	// this long: right after a submit, a gateway that reads the run from
	// the read model may not have it (0: a 404 ends the stream at once).
	NotFoundGrace time.Duration
	// OnReconnect, when set, is told before each reconnection.
	OnReconnect func(after uint64, cause error)
}

// callbackError carries an error of the caller's function out of the
// stream unchanged, so it is never mistaken for a dropped connection.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }

// Events streams the events of run id to fn, in order and without gaps or
// repeats: when the connection drops before the stream's end it reconnects
// with Last-Event-ID set to the last sequence fn saw. It returns nil at the
// end of the stream (after the terminal event when following), fn's error
// if fn fails, or an error when the API refuses or stays unreachable.
func (c *Client) Events(ctx context.Context, id string, opts StreamOptions, fn func(api.RunEvent) error) error {
	giveUp := opts.GiveUpAfter
	if giveUp <= 0 {
		giveUp = time.Minute
	}
	last := opts.After
	start := time.Now()
	progressAt := start
	const minWait, maxWait = 200 * time.Millisecond, 5 * time.Second
	wait := minWait
	for {
		got := 0
		terminal := false
		err := c.streamOnce(ctx, id, opts.Follow, last, func(e api.RunEvent) error {
			got++
			last = e.Seq
			if e.Terminal() {
				terminal = true
			}
			if err := fn(e); err != nil {
				return callbackError{err}
			}
			return nil
		})
		var cbErr callbackError
		if errors.As(err, &cbErr) {
			return cbErr.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && (terminal || !opts.Follow) {
			return nil
		}
		var apiErr *APIError
		if errors.As(err, &apiErr) && apiErr.Status < 500 && apiErr.Status != http.StatusTooManyRequests {
			if apiErr.Status != http.StatusNotFound || last != 0 || time.Since(start) >= opts.NotFoundGrace {
				return err
			}
		}
		if err == nil {
			err = errors.New("the stream ended before the run did")
		}
		if got > 0 {
			progressAt = time.Now()
			wait = minWait
		}
		if time.Since(progressAt) > giveUp {
			return fmt.Errorf("lost the event stream of run %s (nothing for %s): %w", id, giveUp, err)
		}
		if opts.OnReconnect != nil {
			opts.OnReconnect(last, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, maxWait)
	}
}

// streamOnce reads one SSE response. It returns nil when the server ended
// the response cleanly.
func (c *Client) streamOnce(ctx context.Context, id string, follow bool, after uint64, fn func(api.RunEvent) error) error {
	q := url.Values{}
	q.Set("follow", strconv.FormatBool(follow))
	req, err := c.newRequest(ctx, http.MethodGet, "/v1/runs/"+url.PathEscape(id)+"/events", q, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if after > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(after, 10))
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(resp)
	}
	return readSSE(resp.Body, func(m sseMessage) error {
		if m.event != api.RunEventName && m.event != "" {
			return nil
		}
		var e api.RunEvent
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			return fmt.Errorf("could not decode a run event: %w", err)
		}
		if m.id != "" {
			if seq, err := strconv.ParseUint(m.id, 10, 64); err == nil {
				e.Seq = seq
			}
		}
		if e.Seq != 0 && e.Seq <= after {
			// A server that resumes at Last-Event-ID rather than after it
			// would repeat one event; never show it twice.
			return nil
		}
		return fn(e)
	})
}

type sseMessage struct {
	id, event, data string
}

// maxSSELine bounds one line, so a broken server cannot exhaust memory.
const maxSSELine = 16 << 20

// readSSE parses the text/event-stream format (WHATWG HTML, "Server-sent
// events"): fields up to a blank line make one message; lines starting with
// ':' are comments (keep-alives).
func readSSE(r io.Reader, fn func(sseMessage) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var m sseMessage
	var data strings.Builder
	hasData := false
	for {
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				// A message not closed by a blank line is incomplete: drop it
				// (the reconnection asks for it again).
				return nil
			}
			return fmt.Errorf("could not read the event stream: %w", err)
		}
		if line == "" {
			if hasData {
				m.data = data.String()
				if err := fn(m); err != nil {
					return err
				}
			}
			m, hasData = sseMessage{}, false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			m.id = value
		case "event":
			m.event = value
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		}
	}
}

func readLine(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		part, isPrefix, err := br.ReadLine()
		if err != nil {
			return "", err
		}
		b.Write(part)
		if b.Len() > maxSSELine {
			return "", fmt.Errorf("an event stream line is longer than %d bytes", maxSSELine)
		}
		if !isPrefix {
			return b.String(), nil
		}
	}
}
