-- Profiles: defaults that fill what a run request leaves out, and
-- an optional concurrency limit. The latest profile.saved of each name.
CREATE TABLE profiles (
    name           text PRIMARY KEY,
    defaults       jsonb       NOT NULL,
    max_concurrent integer,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    last_seq       bigint      NOT NULL
);
