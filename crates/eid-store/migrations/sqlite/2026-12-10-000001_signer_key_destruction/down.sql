-- Back to a certificate's kid referencing signing_keys: the certificates of destroyed keys
-- (revoked signing certificates) cannot be kept then, and go.
CREATE TABLE certificates_old (
    serial TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    kid TEXT NOT NULL REFERENCES signing_keys (kid),
    citizen_id TEXT,
    der BLOB NOT NULL,
    not_before BIGINT NOT NULL,
    not_after BIGINT NOT NULL,
    revoked_at BIGINT,
    revocation_reason BIGINT
);
INSERT INTO certificates_old (serial, kind, kid, citizen_id, der, not_before, not_after,
    revoked_at, revocation_reason)
SELECT serial, kind, kid, citizen_id, der, not_before, not_after, revoked_at, revocation_reason
FROM certificates WHERE kid IN (SELECT kid FROM signing_keys);
DROP TABLE certificates;
ALTER TABLE certificates_old RENAME TO certificates;
CREATE INDEX certificates_citizen ON certificates (citizen_id);
CREATE INDEX certificates_kind ON certificates (kind);
