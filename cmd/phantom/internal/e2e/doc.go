// Package e2e holds the end-to-end tests and benchmarks of the whole system:
// every service composed by phantom up in one process, real embedded NATS,
// real Postgres and the scripted fake agent, driven through the HTTP API and
// observed on the event subjects exactly as a user or an outside subscriber
// would.
package e2e
