DROP TABLE IF EXISTS projection_errors;
