DROP TABLE IF EXISTS scheduler_jobs;
