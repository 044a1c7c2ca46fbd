// Package service wires Phantom's scheduler: the queue that decides when each
// run is released to a runner pool. It is the only public package of the
// scheduler; `phantom up` and the standalone binary both build it with New
// and run it with Run. The scheduler's README has the rules (order and
// aging, limits, retries, holds, liveness, the lease) and the figures; this
// is how they are carried out.
//
// # What it does
//
// Commands arrive on phantom.cmd.scheduler.submit_run and .cancel_run
// through the durable pull consumer scheduler-commands on PHANTOM_COMMANDS,
// fetched in batches (internal/ports); a batch is decided in one call and
// its messages acknowledged once its events are stored. A submit appends
// run.requested (the full request, the first event of every run), then
// run.queued or run.rejected (queue_full, or invalid_request with the
// offending field: runs.Validate again, whatever the gateway checked). When
// a slot is free it appends run.dispatched and sends a commands.Dispatch to
// phantom.dispatch.<pool> with id dispatch-<run>-<attempt>, the retries left
// and the run's conversation.
//
// A slot is freed by the attempt's run.completed, run.failed or
// run.canceled. A retryable run.failed is followed by run.retry_scheduled
// and, after the backoff, run.queued of the next attempt; a usage or rate
// limit also by provider.held, and provider.released when it ends. A cancel
// of a queued run appends run.canceled; of a started run sends
// commands.RunnerCancel to the runner named by run.started. A cancel of a
// run dispatched but not started yet waits for run.started: the command is
// left unacknowledged and delivered again every CommandRetryDelay until the
// run starts (then the cancel goes to its runner) or ends, so a restart does
// not lose it.
//
// # Event-sourced state
//
// The queue is never stored: every instance rebuilds it at start by
// replaying PHANTOM_EVENTS from sequence 1 with an ordered consumer, up to
// the stream's last sequence at start, applying the event types the queue
// tracks (the rest, output chunks above all, is dropped undecoded on the
// client: a consumer filtered on several subjects is far slower on
// nats-server 2.15, see internal/adapters), and keeps tailing the log as a
// hot standby. Runner liveness comes from a watch of the phantom_runners KV
// bucket.
//
// # Terms of leadership
//
// Run loops over terms: rebuild, tail, campaign for the lease (KV
// phantom_leases, key scheduler), and once it holds it read the log up to
// its last sequence, finish what a previous leader may have left half done
// (Recover: undecided requests are decided, queued runs that fit are
// dispatched, and the dispatch message of an attempt dispatched but not
// started is sent again if its run.dispatched is younger than the resend
// window, the stream's duplicate window less a margin, where JetStream drops
// it if it had been stored; an older one is left to runner liveness and the
// deadline backstop), then consume commands, serve the queue RPC and decide.
// The leader renews the lease every TTL/3 and decides only while its last
// renewal is younger than TTL/2; a term that loses the lease, or whose
// decisions could not be published within the resend window
// (command.ErrStateSuspect), ends, and the next term rebuilds from the log.
// On shutdown the leader deletes the key so a standby takes over at once.
//
// # Idempotency
//
// The scheduler applies each event it appends to its state at once and again
// when the event comes back from the stream; applying is idempotent by state
// and fenced by attempt (an event already reflected, or of an older or
// abandoned attempt, changes nothing). Decisions are taken one at a time
// under one lock, and an attempt with run.dispatched in the log is never
// dispatched again. Every event the scheduler appends has an id derived from
// the run (or provider), the type and the attempt, and every message it
// sends one from the run and the attempt, so a publish repeated after a
// restart or by a new leader is stored once. Failures the scheduler records
// on its own (runner_lost, an overdue timeout) are appended on condition
// that the run's log has not moved since it looked, so a runner's own end of
// the attempt wins. A redelivered submit of a known run does nothing.
package service
