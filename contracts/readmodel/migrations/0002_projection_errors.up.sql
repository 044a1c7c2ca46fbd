-- Events a projection skipped because they could not be applied: a malformed
-- envelope or payload, or a value Postgres refused. Each row is written in the
-- same transaction as the checkpoint that moves past the event, so an operator
-- sees what was skipped and why, and a rebuild of the projection starts afresh.
CREATE TABLE projection_errors (
    projection text        NOT NULL,
    seq        bigint      NOT NULL,
    event_id   text,
    type       text,
    subject    text        NOT NULL,
    error      text        NOT NULL,
    -- The event's ce-time, or the time the stream stored it.
    time       timestamptz NOT NULL,
    PRIMARY KEY (projection, seq)
);
