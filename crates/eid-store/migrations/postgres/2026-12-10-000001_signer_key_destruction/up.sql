-- A citizen's signing key is destroyed when its certificate is revoked (security review
-- 2026-12-07, L7): its signing_keys row is deleted (and a PKCS#11 token's objects with it),
-- while the revoked certificate stays for the CRL, OCSP and the audit trail. So a certificate's
-- kid no longer references signing_keys: the table is rebuilt without that foreign key (a
-- rebuild, because SQLite cannot drop a constraint; the same statements serve PostgreSQL).
CREATE TABLE certificates_new (
    serial TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    kid TEXT NOT NULL,
    citizen_id TEXT,
    der BYTEA NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT
);
INSERT INTO certificates_new (serial, kind, kid, citizen_id, der, not_before, not_after,
    revoked_at, revocation_reason)
SELECT serial, kind, kid, citizen_id, der, not_before, not_after, revoked_at, revocation_reason
FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_new RENAME TO certificates;
CREATE INDEX certificates_citizen ON certificates (citizen_id);
CREATE INDEX certificates_kind ON certificates (kind);
CREATE INDEX certificates_kid ON certificates (kid);
