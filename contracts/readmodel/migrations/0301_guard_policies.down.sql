DROP TABLE IF EXISTS guard_policies;
