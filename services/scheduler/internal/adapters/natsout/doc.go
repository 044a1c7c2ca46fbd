// Package natsout is what the scheduler does on NATS JetStream, outward of
// its use cases: appending events and sending commands (Outbox: ordered,
// pipelined, with conditional appends), reading the event log from sequence
// 1 and then tailing it (Reader), the leadership lease in the
// phantom_leases bucket (Lease) and the runners' entries in phantom_runners
// (WatchRunners). What comes in to the scheduler (its commands, the queue
// asked of it) is ports/natsin.
package natsout
