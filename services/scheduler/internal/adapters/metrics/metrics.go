// Package metrics is the scheduler's Prometheus collectors, the
// command.Metrics its use cases report to.
package metrics

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
	retrying   prometheus.Gauge
	leader     prometheus.Gauge
	dispatches prometheus.Counter
	rejections *prometheus.CounterVec
	retries    *prometheus.CounterVec
	holds      *prometheus.CounterVec
	lost       prometheus.Counter
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
		retrying: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phantom_scheduler_retrying", Help: "Runs waiting for a retry (backoff).",
		}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "phantom_scheduler_leader", Help: "1 while this instance holds the lease and decides, 0 standing by.",
		}),
		dispatches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phantom_scheduler_dispatches_total", Help: "Attempts dispatched to a runner pool by this process.",
		}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_scheduler_rejections_total", Help: "Runs rejected by this process, by reason.",
		}, []string{"reason"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_scheduler_retries_total", Help: "Retries scheduled by this process, by failure reason.",
		}, []string{"reason"}),
		holds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "phantom_scheduler_provider_holds_total", Help: "Provider holds recorded by this process, by provider.",
		}, []string{"provider"}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "phantom_scheduler_runners_lost_total", Help: "Runners this process declared lost (missed heartbeats).",
		}),
		apply: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "phantom_scheduler_event_apply_seconds",
			Help:    "Time to apply one event to the queue's state.",
			Buckets: prometheus.ExponentialBuckets(1e-7, 4, 10), // 100ns .. ~26ms
		}),
	}
	for _, c := range []prometheus.Collector{m.depth, m.running, m.retrying, m.leader, m.dispatches, m.rejections, m.retries, m.holds, m.lost, m.apply} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("could not register the scheduler's metrics: %w", err)
		}
	}
	return m, nil
}

// State sets the queue depth, the runs holding a slot and those waiting for a retry.
func (m *Metrics) State(depth, active, retrying int) {
	m.depth.Set(float64(depth))
	m.running.Set(float64(active))
	m.retrying.Set(float64(retrying))
}

// Leader sets whether this instance leads.
func (m *Metrics) Leader(on bool) {
	if on {
		m.leader.Set(1)
	} else {
		m.leader.Set(0)
	}
}

// Dispatched counts one dispatch.
func (m *Metrics) Dispatched() { m.dispatches.Inc() }

// Rejected counts one rejection.
func (m *Metrics) Rejected(reason string) { m.rejections.WithLabelValues(reason).Inc() }

// Retried counts one retry.
func (m *Metrics) Retried(reason string) { m.retries.WithLabelValues(reason).Inc() }

// Held counts one provider hold.
func (m *Metrics) Held(provider string) { m.holds.WithLabelValues(provider).Inc() }

// RunnerLost counts one runner lost.
func (m *Metrics) RunnerLost() { m.lost.Inc() }

// Applied observes one event's apply time.
func (m *Metrics) Applied(d time.Duration) { m.apply.Observe(d.Seconds()) }
