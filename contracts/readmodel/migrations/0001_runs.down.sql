DROP TABLE IF EXISTS projection_checkpoints;
DROP TABLE IF EXISTS run_events;
DROP TABLE IF EXISTS runs;
