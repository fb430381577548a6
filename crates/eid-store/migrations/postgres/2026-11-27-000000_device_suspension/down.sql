ALTER TABLE devices DROP COLUMN suspended_at;
