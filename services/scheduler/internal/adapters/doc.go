// Package adapters connects the scheduler to the outside world: NATS
// JetStream for appending events and sending commands (Outbox: ordered,
// pipelined, with conditional appends), the event log read from sequence 1
// and then tailed (Reader), the leadership lease in the phantom_leases
// bucket (Lease), the runners' entries in phantom_runners (WatchRunners),
// and Prometheus (Metrics).
package adapters
