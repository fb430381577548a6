-- In-person proofing: the applying phone answered a counter's one-time challenge with its key
-- (when, for which officer's review; an upgrade: which device of the account).
ALTER TABLE applications ADD COLUMN present_at BIGINT;
ALTER TABLE applications ADD COLUMN present_officer_id TEXT;
ALTER TABLE applications ADD COLUMN present_device_id TEXT;
