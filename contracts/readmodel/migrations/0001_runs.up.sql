-- Runs and their events, projected from PHANTOM_EVENTS. Every column is
-- derived from events (times included), so a replay into empty tables gives
-- identical rows.
CREATE TABLE runs (
    id              text PRIMARY KEY,
    agent           text        NOT NULL,
    provider        text        NOT NULL,
    pool            text        NOT NULL,
    prompt          text        NOT NULL,
    workspace       text        NOT NULL,
    spec            jsonb       NOT NULL,
    status          text        NOT NULL,
    priority        integer     NOT NULL DEFAULT 0,
    attempt         integer     NOT NULL DEFAULT 0,
    runner_id       text,
    host            text,
    pid             integer,
    cwd             text,
    exit_code       integer,
    reason          text,
    message         text,
    result          text,
    rerun_of        text,
    conversation_id text,
    requested_by    text,
    archived        boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    queued_at       timestamptz,
    dispatched_at   timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    updated_at      timestamptz NOT NULL,
    last_seq        bigint      NOT NULL
);

-- Run ids are ULIDs, so id order is creation order: listings page by id.
CREATE INDEX runs_status_idx ON runs (status, id DESC);

CREATE TABLE run_events (
    seq     bigint PRIMARY KEY,
    id      text        NOT NULL UNIQUE,
    run_id  text        NOT NULL,
    type    text        NOT NULL,
    source  text        NOT NULL,
    attempt integer,
    time    timestamptz NOT NULL,
    data    jsonb       NOT NULL
);

CREATE INDEX run_events_run_idx ON run_events (run_id, seq);

CREATE TABLE projection_checkpoints (
    projection text PRIMARY KEY,
    last_seq   bigint      NOT NULL,
    updated_at timestamptz NOT NULL
);
