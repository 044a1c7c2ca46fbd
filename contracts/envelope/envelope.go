// Package envelope maps Phantom messages to CloudEvents 1.0 in binary mode
// over NATS: the context attributes travel as ce-* headers, the payload is the
// message body, and ce-id doubles as Nats-Msg-Id so that JetStream drops a
// retried publish within the stream's duplicate window.
package envelope

import (
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/oklog/ulid/v2"
)

// Header names. The CloudEvents NATS binding puts attributes in headers with
// the ce- prefix; content-type is the one attribute without it.
const (
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderSubject     = "ce-subject"
	HeaderTime        = "ce-time"
	HeaderContentType = "content-type"
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
	// HeaderAttempt is a CloudEvents extension carrying the run attempt, so a
	// consumer can fence stale attempts without decoding the payload.
	HeaderAttempt = "ce-attempt"

	SpecVersion     = "1.0"
	ContentTypeJSON = "application/json"
)

// Envelope is one CloudEvent: the context attributes and the JSON payload.
type Envelope struct {
	ID          string
	Type        string
	Source      string
	Subject     string
	Time        time.Time
	TraceParent string
	TraceState  string
	// Extensions are further ce-* attributes, without the prefix.
	Extensions map[string]string
	Data       []byte
}

// NewID returns a new sortable unique id: a ULID, monotonic within a
// millisecond, safe for concurrent use.
func NewID() string { return ulid.Make().String() }

// Header renders the envelope's attributes as NATS headers, Nats-Msg-Id included.
func (e Envelope) Header() nats.Header {
	// Sized up front, and every value's one-element slice cut from one
	// array: on the runner's hot path the eleven small allocations cost more
	// than the rest of building the message. nats.Header.Set does no more
	// than store such a slice (NATS headers are case-sensitive).
	n := 10 + len(e.Extensions)
	h := make(nats.Header, n)
	vals := make([]string, 0, n)
	set := func(k, v string) {
		vals = append(vals, v)
		h[k] = vals[len(vals)-1 : len(vals) : len(vals)]
	}
	set(HeaderSpecVersion, SpecVersion)
	set(HeaderID, e.ID)
	set(nats.MsgIdHdr, e.ID)
	set(HeaderType, e.Type)
	set(HeaderSource, e.Source)
	if e.Subject != "" {
		set(HeaderSubject, e.Subject)
	}
	set(HeaderTime, e.Time.UTC().Format(time.RFC3339Nano))
	set(HeaderContentType, ContentTypeJSON)
	if e.TraceParent != "" {
		set(HeaderTraceParent, e.TraceParent)
	}
	if e.TraceState != "" {
		set(HeaderTraceState, e.TraceState)
	}
	for k, v := range e.Extensions {
		set("ce-"+k, v)
	}
	return h
}

// Msg builds the NATS message carrying the envelope on subject.
func (e Envelope) Msg(subject string) *nats.Msg {
	return &nats.Msg{Subject: subject, Header: e.Header(), Data: e.Data}
}

// FromHeader reads an envelope from NATS headers and body. A message missing
// a required attribute is malformed: the error says which.
func FromHeader(h nats.Header, data []byte) (Envelope, error) {
	e := Envelope{Data: data}
	if v := h.Get(HeaderSpecVersion); v != SpecVersion {
		return e, fmt.Errorf("malformed event: %s is %q, want %q", HeaderSpecVersion, v, SpecVersion)
	}
	e.ID = h.Get(HeaderID)
	e.Type = h.Get(HeaderType)
	e.Source = h.Get(HeaderSource)
	for name, v := range map[string]string{HeaderID: e.ID, HeaderType: e.Type, HeaderSource: e.Source} {
		if v == "" {
			return e, fmt.Errorf("malformed event: header %s is missing", name)
		}
	}
	e.Subject = h.Get(HeaderSubject)
	if ts := h.Get(HeaderTime); ts != "" {
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return e, fmt.Errorf("malformed event: header %s: %w", HeaderTime, err)
		}
		e.Time = t
	}
	e.TraceParent = h.Get(HeaderTraceParent)
	e.TraceState = h.Get(HeaderTraceState)
	for k, v := range h {
		name, ok := strings.CutPrefix(strings.ToLower(k), "ce-")
		if !ok || len(v) == 0 {
			continue
		}
		switch name {
		case "specversion", "id", "type", "source", "subject", "time":
			continue
		}
		if e.Extensions == nil {
			e.Extensions = map[string]string{}
		}
		e.Extensions[name] = v[0]
	}
	return e, nil
}
