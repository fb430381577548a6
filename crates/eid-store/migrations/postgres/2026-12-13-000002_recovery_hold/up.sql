-- A remote recovery of an existing account is held (review 2026-12-07, H2): the application
-- waits in status 'held' until held_until, naming the account in citizen_id, with what proofing
-- established sealed in held_proof; the account's devices may cancel it meanwhile.
ALTER TABLE applications ADD COLUMN held_until BIGINT;
ALTER TABLE applications ADD COLUMN held_proof BYTEA;
CREATE INDEX applications_citizen ON applications (citizen_id, status);
