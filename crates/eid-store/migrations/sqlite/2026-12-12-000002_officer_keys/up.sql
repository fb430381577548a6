-- An officer's key: the [officers] attestation root that attested it (its subject; NULL: a
-- software key, development only), and when an operator confirmed it. Keys registered before
-- wait for a confirmation (or, unattested, for a new enrolment link).
ALTER TABLE officer_credentials ADD COLUMN attestation TEXT;
ALTER TABLE officer_credentials ADD COLUMN confirmed_at BIGINT;
