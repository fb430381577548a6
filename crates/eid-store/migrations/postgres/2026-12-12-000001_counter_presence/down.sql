ALTER TABLE applications DROP COLUMN present_device_id;
ALTER TABLE applications DROP COLUMN present_officer_id;
ALTER TABLE applications DROP COLUMN present_at;
