DROP TABLE IF EXISTS conversation_runs;
DROP TABLE IF EXISTS conversations;
DROP TABLE IF EXISTS capability_snapshots;
DROP TABLE IF EXISTS usage;
DROP TABLE IF EXISTS tool_calls;
DROP TABLE IF EXISTS messages;
