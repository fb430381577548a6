DROP TABLE subjects;
DROP TABLE signing_requests;
DROP TABLE certificates;
ALTER TABLE signing_keys DROP COLUMN custody;
