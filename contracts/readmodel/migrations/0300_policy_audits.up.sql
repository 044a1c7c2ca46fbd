-- Safety-guard decisions (run.policy_audit), one row per event, projected by
-- the policy_audits projection. Every column comes from the event (time is
-- its ce-time), so a replay gives identical rows.
CREATE TABLE policy_audits (
    seq      bigint PRIMARY KEY,
    id       text        NOT NULL UNIQUE,
    run_id   text        NOT NULL,
    attempt  integer,
    time     timestamptz NOT NULL,
    decision text        NOT NULL,
    rule     text,
    -- The command as judged, secrets redacted by the guard.
    command  text        NOT NULL,
    segment  text,
    reason   text,
    cwd      text,
    mode     text,
    origin   text,
    agent    text,
    policies text[]      NOT NULL DEFAULT '{}',
    source   text        NOT NULL
);

-- Listings are newest first, by run and by decision.
CREATE INDEX policy_audits_run_idx ON policy_audits (run_id, seq DESC);
CREATE INDEX policy_audits_decision_idx ON policy_audits (decision, seq DESC);
