// Package bus connects Phantom's services to NATS JetStream: it dials a
// server by URL (with credentials and TLS) or embeds one, provisions the
// streams and buckets of contracts/streams idempotently, publishes CloudEvents
// with retries that keep their Nats-Msg-Id, and creates consumers that are
// always durable, explicitly acknowledged and bounded in flight.
//
// Handlers that fit Watermill's router use the adapter in package
// bus/watermilljs, built on the same pieces.
package bus
