// Package service wires Phantom's scheduler: the queue that decides when each
// run is released to a runner pool. It is the only public package of the
// scheduler; `phantom up` and the standalone binary both build it with New
// and run it with Run.
//
// # What it does
//
// Commands arrive on phantom.cmd.scheduler.submit_run and .cancel_run through
// the durable consumer scheduler-commands on PHANTOM_COMMANDS, handled by a
// Watermill router (with a panic Recoverer) over pkg/bus/watermilljs. A
// submit appends run.requested (the full request, the first event of every
// run), then run.queued or run.rejected (queue_full, or invalid_request with
// the offending field: the scheduler validates the request again). When a
// slot is free it appends run.dispatched and sends a commands.Dispatch to
// phantom.dispatch.<pool> with id dispatch-<run>-<attempt>. Limits: at most
// MaxRunning runs dispatched or running overall, MaxPerProvider per provider
// (spec.ProviderOrAgent()), Capacity runs queued; FIFO, where a run whose
// provider is at its limit is passed over rather than waited for.
//
// A slot is freed by run.completed, run.failed (not retryable) or
// run.canceled from the runner. A cancel of a queued run appends
// run.canceled; of a running run sends commands.RunnerCancel to the runner
// named by run.started. A cancel of a run dispatched but not started yet
// waits for run.started: canceling it in the queue at once would free its
// slot while a runner may already be preparing it. The cancel command is
// left unacknowledged and delivered again every CommandRetryDelay until the
// run starts (then the cancel goes to its runner) or ends, so a restart does
// not lose it. A cancel of a finished or unknown run is logged and dropped.
//
// # Event-sourced state
//
// The queue is never stored: it is rebuilt at every start by replaying
// PHANTOM_EVENTS from sequence 1 with an ordered consumer, up to the stream's
// last sequence at start, applying the run events the queue tracks and the
// runner events (the rest, output chunks above all, is dropped undecoded on
// the client: a consumer filtered on several subjects is far slower on
// nats-server 2.15, see internal/adapters). Only then are commands consumed, while the same consumer keeps
// tailing the log. After the replay the scheduler finishes what a previous
// instance may have left half done: a run.requested with neither run.queued
// nor run.rejected is decided, queued runs that fit are dispatched, and the
// dispatch message of an attempt dispatched but not started is sent again if
// its run.dispatched is younger than the resend window (the stream's
// duplicate window less a margin), where JetStream drops it if it had been
// stored. An older one is not resent: a second copy could run the attempt
// twice, so it is left to attempt timeouts and runner liveness.
//
// # Idempotency
//
// The scheduler applies each event it appends to its state at once and again
// when the event comes back from the stream; applying is idempotent by state
// and fenced by attempt (an event already reflected, or of an older attempt,
// changes nothing). Decisions are taken one at a time under one lock, and an
// attempt with run.dispatched in the log is never dispatched again. Every
// event the scheduler appends has an id derived from the run, the type and
// the attempt, and every message it sends one from the run and the attempt,
// so a publish repeated after a restart is stored once. A redelivered submit
// of a known run does nothing.
//
// # One active instance
//
// The scheduler assumes it is the only active instance: two would both
// dispatch from their own copy of the queue. Leadership through a lease in
// the phantom_leases bucket, with standbys, comes with a later issue; until
// then run exactly one scheduler per NATS deployment.
//
// # What comes later
//
// Priority with aging, per-profile and per-workspace limits, guardrails,
// retries with backoff, attempt timeouts, runner liveness and quota holds
// change the queue's order and admission (internal/domain/queue) and add
// reactions to events; the flow above stays as it is. Until retries exist a
// dispatch carries RetriesLeft 0, and a run whose attempt fails with
// Retryable set anyway frees its slot and waits.
package service
