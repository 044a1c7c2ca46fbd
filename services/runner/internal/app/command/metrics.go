package command

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the runner's Prometheus collectors.
type Metrics struct {
	running       prometheus.Gauge
	attempts      *prometheus.CounterVec
	chunks        *prometheus.CounterVec
	bytes         *prometheus.CounterVec
	spawnFailures *prometheus.CounterVec
}

// NewMetrics registers the runner's collectors.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "phantom_runner_attempts_running",
			Help: "Attempts this runner holds (preparing or running)."}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phantom_runner_attempts_total",
			Help: "Attempts this runner finished, by outcome (completed, canceled, failed:<reason>, handed_back, skipped)."}, []string{"outcome"}),
		chunks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phantom_runner_chunks_published_total",
			Help: "Output chunk events appended, by stream."}, []string{"stream"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phantom_runner_output_bytes_published_total",
			Help: "Bytes of agent output appended in chunk events, by stream."}, []string{"stream"}),
		spawnFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "phantom_runner_spawn_failures_total",
			Help: "Agents that could not be started, by reason (cli_missing, cwd_missing, spawn_failed)."}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.running, m.attempts, m.chunks, m.bytes, m.spawnFailures} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("could not register the runner metrics: %w", err)
		}
	}
	return m, nil
}
