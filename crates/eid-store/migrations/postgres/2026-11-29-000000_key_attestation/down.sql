ALTER TABLE devices DROP COLUMN attestation;
