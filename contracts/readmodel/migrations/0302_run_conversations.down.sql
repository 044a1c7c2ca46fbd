DROP TABLE IF EXISTS run_conversations;
