DROP TABLE IF EXISTS provider_holds;
