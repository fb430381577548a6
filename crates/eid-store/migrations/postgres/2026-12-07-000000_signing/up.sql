-- Which custody holds a key: 'sealed' (PKCS#8 sealed under the master key, in private_key)
-- or 'pkcs11' (generated in a PKCS#11 token; private_key holds its CKA_ID).
ALTER TABLE signing_keys ADD COLUMN custody TEXT NOT NULL DEFAULT 'sealed';

-- Certificates eid issued: the CA hierarchy's, the OCSP responder's, the time-stamping unit's
-- and citizens' signing certificates. A certificate names no HKID number; a citizen's is found
-- by citizen_id (no foreign key: a certificate outlives any account, for the CRL and audit).
-- revoked_at/revocation_reason (RFC 5280 CRLReason code) set once, never unset.
CREATE TABLE certificates (
    serial TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    kid TEXT NOT NULL REFERENCES signing_keys (kid),
    citizen_id TEXT,
    der BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT
);
CREATE INDEX certificates_citizen ON certificates (citizen_id);
CREATE INDEX certificates_kind ON certificates (kind);
