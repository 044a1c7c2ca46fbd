-- Provider holds: the last hold of each provider whose quota ran
-- out, and whether it is still on. A hold is on while released_at is null
-- and held_until is in the future.
CREATE TABLE provider_holds (
    provider       text PRIMARY KEY,
    held_until     timestamptz NOT NULL,
    reason         text        NOT NULL,
    reset_known    boolean     NOT NULL,
    run_id         text,
    attempt        integer,
    message        text,
    held_at        timestamptz NOT NULL,
    released_at    timestamptz,
    release_reason text,
    -- How many holds the provider has had.
    holds          integer     NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL,
    last_seq       bigint      NOT NULL
);
