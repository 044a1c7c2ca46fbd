DROP TABLE IF EXISTS policy_audits;
