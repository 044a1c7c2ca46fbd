-- The scheduler's queue as the event log tells it: one row per run
-- the scheduler has not finished with (requested, queued, waiting for a
-- retry, dispatched or running); a run that ends (completed, failed for good,
-- canceled, rejected) leaves the table. Every column comes from events, times
-- included, so a replay gives identical rows. The live view (effective
-- priority, why a run waits) is the active scheduler's (GET /v1/queue); this
-- table is its durable, queryable shadow.
CREATE TABLE scheduler_jobs (
    run_id        text PRIMARY KEY,
    -- requested, queued, retry_wait, dispatched or running.
    status        text        NOT NULL,
    attempt       integer     NOT NULL DEFAULT 0,
    agent         text        NOT NULL,
    provider      text        NOT NULL,
    pool          text        NOT NULL,
    profile       text,
    workspace     text        NOT NULL,
    priority      integer     NOT NULL,
    -- When the run first entered the queue: aging counts from it.
    queued_at     timestamptz,
    -- A retry's backoff end, and why it is retried.
    not_before    timestamptz,
    retry_reason  text,
    retries       integer     NOT NULL DEFAULT 0,
    runner_id     text,
    dispatched_at timestamptz,
    started_at    timestamptz,
    deadline      timestamptz,
    requested_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_seq      bigint      NOT NULL
);

CREATE INDEX scheduler_jobs_status_idx ON scheduler_jobs (status, priority DESC, queued_at);
CREATE INDEX scheduler_jobs_provider_idx ON scheduler_jobs (provider, status);
