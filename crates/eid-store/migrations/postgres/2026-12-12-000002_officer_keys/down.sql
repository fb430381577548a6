ALTER TABLE officer_credentials DROP COLUMN confirmed_at;
ALTER TABLE officer_credentials DROP COLUMN attestation;
