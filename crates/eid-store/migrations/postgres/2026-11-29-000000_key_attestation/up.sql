-- A device's key attested by a trusted root (the root's subject): a hardware key. NULL: a
-- software key, as every key registered before was.
ALTER TABLE devices ADD COLUMN attestation TEXT;
