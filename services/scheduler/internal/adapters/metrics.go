package adapters

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/phantom-run/phantom/services/scheduler/internal/app/command"
)

// Metrics are the scheduler's Prometheus collectors.
type Metrics struct {
	depth      prometheus.Gauge
	running    prometheus.Gauge
	dispatches prometheus.Counter
	rejections *prometheus.CounterVec
	apply      prometheus.Histogram
}

var _ command.Metrics = (*Metrics)(nil)

// NewMetrics registers the collectors on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phantom_scheduler_queue_depth", Help: "Runs waiting in the queue.",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phantom_scheduler_running", Help: "Runs dispatched or running (holding a slot).",
		}),
		dispatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phantom_scheduler_dispatches_total", Help: "Attempts dispatched to a runner pool by this process.",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_scheduler_rejections_total", Help: "Runs rejected by this process, by reason.",
		}, []string{"reason"}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "phantom_scheduler_event_apply_seconds",
			Help:    "Time to apply one event to the queue's state.",
			Buckets: prometheus.ExponentialBuckets(1e-7, 4, 10), // 100ns .. ~26ms
		}),
	}
	for _, c := range []prometheus.Collector{m.depth, m.running, m.dispatches, m.rejections, m.apply} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("could not register the scheduler's metrics: %w", err)
		}
	}
	return m, nil
}

// State sets the queue depth and the runs holding a slot.
func (m *Metrics) State(depth, active int) {
	m.depth.Set(float64(depth))
	m.running.Set(float64(active))
}

// Dispatched counts one dispatch.
func (m *Metrics) Dispatched() { m.dispatches.Inc() }

// Rejected counts one rejection.
func (m *Metrics) Rejected(reason string) { m.rejections.WithLabelValues(reason).Inc() }

// Applied observes one event's apply time.
func (m *Metrics) Applied(d time.Duration) { m.apply.Observe(d.Seconds()) }
