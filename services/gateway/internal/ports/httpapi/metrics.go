package httpapi

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the API's Prometheus collectors. Labels are route patterns,
// never raw paths, so their number stays bounded.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	streams  prometheus.Gauge
	submits  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "phantom", Subsystem: "gateway", Name: "http_requests_total",
			Help: "HTTP requests by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "phantom", Subsystem: "gateway", Name: "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request (streams excluded), by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "phantom", Subsystem: "gateway", Name: "event_streams_open",
			Help: "Server-Sent Events streams open now.",
		}),
		submits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "phantom", Subsystem: "gateway", Name: "submits_total",
			Help: "Run submissions by outcome: queued, submitted (no answer within the wait), rejected, invalid, error.",
		}, []string{"outcome"}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.latency, err = register(reg, m.latency); err != nil {
		return nil, err
	}
	if m.streams, err = register(reg, m.streams); err != nil {
		return nil, err
	}
	if m.submits, err = register(reg, m.submits); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers c, or returns the collector already registered under
// its name (two APIs in one process share their metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing, nil
			}
		}
		return c, fmt.Errorf("could not register the gateway's metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) observe(method, route string, status int, elapsed time.Duration, streaming bool) {
	// Clients choose the method: only known ones become label values.
	switch method {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
	default:
		method = "other"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	if !streaming {
		m.latency.WithLabelValues(method, route).Observe(elapsed.Seconds())
	}
}
