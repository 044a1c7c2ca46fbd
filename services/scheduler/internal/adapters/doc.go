// Package adapters connects the scheduler to the outside world: NATS
// JetStream for appending events and sending commands (Outbox), the event
// log read from sequence 1 and then tailed (EventLog), and Prometheus
// (Metrics).
package adapters
