// Package tracing carries W3C trace context across Phantom's hops: from an
// HTTP request into the events and commands it causes, and from a consumed
// message into what its handler publishes. It uses OpenTelemetry's
// propagators, so an OpenTelemetry SDK installed by an operator records real
// spans; without one the context still flows.
package tracing

import (
	"context"
	"crypto/rand"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

var propagator = propagation.TraceContext{}

// headerCarrier adapts NATS headers, which are case-sensitive, to the
// propagator's carrier.
type headerCarrier nats.Header

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Extract returns ctx with the trace context found in NATS headers, if any.
func Extract(ctx context.Context, h nats.Header) context.Context {
	if h == nil {
		return ctx
	}
	return propagator.Extract(ctx, headerCarrier(h))
}

// ExtractHTTP returns ctx with the trace context of an HTTP request's headers.
func ExtractHTTP(ctx context.Context, carrier propagation.TextMapCarrier) context.Context {
	return propagator.Extract(ctx, carrier)
}

// TraceParent renders the trace context of ctx as a traceparent value, or "".
func TraceParent(ctx context.Context) (traceparent, tracestate string) {
	m := propagation.MapCarrier{}
	propagator.Inject(ctx, m)
	return m.Get("traceparent"), m.Get("tracestate")
}

// Ensure returns ctx carrying a trace: its own if it has one, else a new
// sampled root, so every run can be followed across services.
func Ensure(ctx context.Context) context.Context {
	if trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	var tid trace.TraceID
	var sid trace.SpanID
	_, _ = rand.Read(tid[:])
	_, _ = rand.Read(sid[:])
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled})
	return trace.ContextWithSpanContext(ctx, sc)
}

// WithTraceParent returns ctx carrying the trace context of a traceparent
// (and tracestate) value, as kept with a record; ctx is returned unchanged
// when traceparent is empty or invalid.
func WithTraceParent(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent, "tracestate": tracestate})
}
