-- Runners as the event log tells it: registered, lost (missed its
-- heartbeats) or drained (stopped on purpose). Liveness itself is the KV
-- bucket phantom_runners; this table is the fleet's history.
CREATE TABLE runners (
    runner_id     text PRIMARY KEY,
    host          text        NOT NULL,
    pool          text        NOT NULL,
    slots         integer     NOT NULL,
    version       text        NOT NULL,
    -- active, lost or drained.
    status        text        NOT NULL,
    started_at    timestamptz NOT NULL,
    registered_at timestamptz NOT NULL,
    -- The last heartbeat the scheduler saw, for a lost runner; else registered_at.
    last_seen     timestamptz NOT NULL,
    lost_at       timestamptz,
    drained_at    timestamptz,
    -- The runs it held when it was lost, or handed back when it drained.
    runs          text[]      NOT NULL DEFAULT '{}',
    updated_at    timestamptz NOT NULL,
    last_seq      bigint      NOT NULL
);

CREATE INDEX runners_status_idx ON runners (status, runner_id);
