-- The conversation each run of a thread belongs to (from run.requested), so
-- that the conversations projection can make the provider session a run
-- reports (run.semantic, kind session) the one its thread resumes next.
CREATE TABLE run_conversations (
    run_id          text PRIMARY KEY,
    conversation_id text   NOT NULL,
    seq             bigint NOT NULL
);
