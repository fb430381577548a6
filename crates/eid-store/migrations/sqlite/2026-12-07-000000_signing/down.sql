DROP TABLE certificates;
ALTER TABLE signing_keys DROP COLUMN custody;
