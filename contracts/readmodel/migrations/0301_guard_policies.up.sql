-- The safety-guard policy of each scope (guard_policy.saved / .deleted),
-- projected by the guard_policies projection.
CREATE TABLE guard_policies (
    id         text PRIMARY KEY,
    scope      text        NOT NULL,
    target     text        NOT NULL,
    policy     jsonb       NOT NULL,
    updated_at timestamptz NOT NULL,
    seq        bigint      NOT NULL
);
