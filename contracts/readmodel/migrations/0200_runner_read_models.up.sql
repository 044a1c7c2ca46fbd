-- The runner's read models: what agents said and did, what they
-- cost, what each runner can run, and conversations. Every column is derived
-- from events (times are the events' ce-time), so a replay into empty tables
-- gives identical rows.

-- One row per parsed message, thinking block or error (run.semantic kinds
-- message, thinking, error), keyed by the event's stream sequence.
CREATE TABLE messages (
    seq        bigint PRIMARY KEY,
    run_id     text        NOT NULL,
    attempt    integer     NOT NULL,
    kind       text        NOT NULL,
    role       text        NOT NULL,
    message_id text,
    agent      text,
    model      text,
    text       text        NOT NULL,
    subtype    text,
    time       timestamptz NOT NULL
);
CREATE INDEX messages_run_idx ON messages (run_id, seq);

-- One row per tool call: its use (name, input), then its result.
CREATE TABLE tool_calls (
    run_id      text        NOT NULL,
    attempt     integer     NOT NULL,
    tool_use_id text        NOT NULL,
    agent       text,
    name        text,
    input       jsonb,
    status      text        NOT NULL,
    result      text,
    is_error    boolean     NOT NULL DEFAULT false,
    started_at  timestamptz,
    finished_at timestamptz,
    seq         bigint      NOT NULL,
    PRIMARY KEY (run_id, attempt, tool_use_id)
);
CREATE INDEX tool_calls_run_idx ON tool_calls (run_id, seq);

-- Tokens and cost per run, attempt and model: each usage event carries the
-- attempt's running totals for its model, so the latest one wins.
CREATE TABLE usage (
    run_id                text             NOT NULL,
    attempt               integer          NOT NULL,
    model                 text             NOT NULL,
    agent                 text,
    input_tokens          bigint           NOT NULL,
    output_tokens         bigint           NOT NULL,
    cache_read_tokens     bigint           NOT NULL,
    cache_creation_tokens bigint           NOT NULL,
    reasoning_tokens      bigint           NOT NULL,
    cost_usd              double precision,
    cost_estimated        boolean          NOT NULL,
    updated_at            timestamptz      NOT NULL,
    seq                   bigint           NOT NULL,
    PRIMARY KEY (run_id, attempt, model)
);

-- The agent CLIs each runner found (runner.capabilities), dropped when the
-- runner drains or is lost.
CREATE TABLE capability_snapshots (
    runner_id     text        NOT NULL,
    agent         text        NOT NULL,
    host          text        NOT NULL,
    command       text        NOT NULL,
    found         boolean     NOT NULL,
    version       text,
    support       text        NOT NULL,
    reason        text,
    provider      text,
    default_model text,
    plan_model    text,
    install       text,
    models        jsonb       NOT NULL,
    options       jsonb       NOT NULL,
    updated_at    timestamptz NOT NULL,
    seq           bigint      NOT NULL,
    PRIMARY KEY (runner_id, agent)
);

CREATE TABLE conversations (
    id                  text PRIMARY KEY,
    title               text        NOT NULL,
    agent               text        NOT NULL,
    provider            text        NOT NULL,
    workspace           text        NOT NULL,
    model               text,
    profile             text,
    provider_session_id text,
    archived            boolean     NOT NULL DEFAULT false,
    message_count       integer     NOT NULL DEFAULT 0,
    last_run_id         text,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    seq                 bigint      NOT NULL
);
CREATE INDEX conversations_updated_idx ON conversations (archived, updated_at DESC, id);

-- The runs of a conversation, in order.
CREATE TABLE conversation_runs (
    conversation_id text        NOT NULL,
    run_id          text        NOT NULL,
    position        integer     NOT NULL,
    text            text        NOT NULL,
    created_at      timestamptz NOT NULL,
    seq             bigint      NOT NULL,
    PRIMARY KEY (conversation_id, run_id)
);
CREATE INDEX conversation_runs_position_idx ON conversation_runs (conversation_id, position);
