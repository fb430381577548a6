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

-- Document signing requests from relying parties. The document (its name, digest, a PDF) is
-- sealed (AAD: the request id), and so is the result; both go when the request is purged.
-- status: pending -> signed | declined (compare-and-set); past expires_at a pending request
-- is expired.
CREATE TABLE signing_requests (
    request_id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    citizen_id TEXT NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    document BYTEA NOT NULL,
    verification_code TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    decided_at BIGINT,
    device_id TEXT,
    certificate_serial TEXT,
    result BYTEA
);
CREATE INDEX signing_requests_citizen ON signing_requests (citizen_id, status);

-- Which citizen a pairwise subject names, for the clients that may ask for signatures (they
-- name the citizen by the sub they know). Written when such a client's login issues tokens.
CREATE TABLE subjects (
    sector TEXT NOT NULL,
    sub TEXT NOT NULL,
    citizen_id TEXT NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (sector, sub)
);
