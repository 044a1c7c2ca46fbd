package engine

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the projector's Prometheus collectors, labelled by projection.
type Metrics struct {
	applied    *prometheus.CounterVec
	skipped    *prometheus.CounterVec
	batchSize  *prometheus.HistogramVec
	applyTime  *prometheus.HistogramVec
	checkpoint *prometheus.GaugeVec
	lag        *prometheus.GaugeVec
	pending    *prometheus.GaugeVec
	resets     *prometheus.CounterVec
	errors     *prometheus.CounterVec
	active     *prometheus.GaugeVec
}

// Skip reasons, the values of the reason label of events_skipped_total.
const (
	SkipRedelivered = "redelivered" // at or below the checkpoint
	SkipUnknownType = "unknown_type"
	SkipMalformed   = "malformed" // envelope or payload does not decode
	SkipRefused     = "refused"   // the projection or Postgres refused its data
)

// NewMetrics registers the collectors on reg (nil: a private registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	const ns, sub = "phantom", "projector"
	m := &Metrics{
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_applied_total",
			Help: "Events applied to the projection's tables."}, []string{"projection"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "events_skipped_total",
			Help: "Events passed over: redelivered (at or below the checkpoint), unknown_type, malformed, refused."}, []string{"projection", "reason"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "batch_size",
			Help:    "Messages per applied batch (one transaction).",
			Buckets: []float64{1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}}, []string{"projection"}),
		applyTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: ns, Subsystem: sub, Name: "apply_duration_seconds",
			Help:    "Time to apply one batch and commit it with its checkpoint.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}, []string{"projection"}),
		checkpoint: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "checkpoint_sequence",
			Help: "Last stream sequence applied."}, []string{"projection"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "lag_sequences",
			Help: "Last sequence of PHANTOM_EVENTS minus the checkpoint (an upper bound of the events still to apply)."}, []string{"projection"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "pending_events",
			Help: "Events of the projection's subjects not yet delivered to it, as of its last batch."}, []string{"projection"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "consumer_positions_total",
			Help: "Times the durable consumer was (re)created at checkpoint+1: start, gap, checkpoint_moved, fetch_error."}, []string{"projection", "reason"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Subsystem: sub, Name: "apply_errors_total",
			Help: "Failed attempts to apply a batch (retried)."}, []string{"projection"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Subsystem: sub, Name: "active",
			Help: "1 while this instance runs the projection, 0 while it stands by."}, []string{"projection"}),
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.batchSize, m.applyTime, m.checkpoint, m.lag, m.pending, m.resets, m.errors, m.active} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("could not register the projector metrics: %w", err)
		}
	}
	return m, nil
}

// SetActive records whether this instance runs projection.
func (m *Metrics) SetActive(projection string, active bool) {
	v := 0.0
	if active {
		v = 1
	}
	m.active.WithLabelValues(projection).Set(v)
}

// SetLag records the distance from the stream's last sequence.
func (m *Metrics) SetLag(projection string, lag uint64) {
	m.lag.WithLabelValues(projection).Set(float64(lag))
}
