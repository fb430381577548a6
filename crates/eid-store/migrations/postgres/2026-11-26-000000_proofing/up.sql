-- Identity proofing: applications, assurance levels, account status, registration officers,
-- the audit trail and rate-limit counters.

-- Keys have a purpose: ID tokens, or eid's requests to outside services (the registry).
ALTER TABLE signing_keys ADD COLUMN purpose TEXT NOT NULL DEFAULT 'token';

-- Accounts: a reference for the citizen and operators, an assurance level (NULL: created
-- before identity proofing, never proven), a status. Profiles move to their own table so that
-- closing an account erases them.
ALTER TABLE citizens ADD COLUMN reference TEXT NOT NULL DEFAULT '';
UPDATE citizens SET reference = upper(substr(replace(citizen_id, '-', ''), 1, 4) || '-' || substr(replace(citizen_id, '-', ''), 5, 4));
CREATE UNIQUE INDEX citizens_reference ON citizens (reference);
ALTER TABLE citizens ADD COLUMN level TEXT;
ALTER TABLE citizens ADD COLUMN status TEXT NOT NULL DEFAULT 'active';
ALTER TABLE citizens ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0;
UPDATE citizens SET updated_at = created_at;

CREATE TABLE citizen_profiles (
    citizen_id TEXT PRIMARY KEY NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    profile BYTEA NOT NULL
);
INSERT INTO citizen_profiles (citizen_id, profile) SELECT citizen_id, profile FROM citizens;
ALTER TABLE citizens DROP COLUMN profile;

-- Devices: the WebAuthn user handle they were created with (until now, the account's id),
-- and how they joined.
ALTER TABLE devices ADD COLUMN user_handle TEXT NOT NULL DEFAULT '';
UPDATE devices SET user_handle = citizen_id;
ALTER TABLE devices ADD COLUMN joined_by TEXT NOT NULL DEFAULT 'proofing';

-- Ceremonies are about accounts, applications or officers.
ALTER TABLE ceremonies RENAME COLUMN citizen_id TO subject_id;

-- Login requests: the level the client requires, what the approval achieved, and the error
-- a refused request returns.
ALTER TABLE auth_requests ADD COLUMN required_level TEXT;
ALTER TABLE auth_requests ADD COLUMN acr TEXT;
ALTER TABLE auth_requests ADD COLUMN amr TEXT;
ALTER TABLE auth_requests ADD COLUMN error_code TEXT;

CREATE TABLE applications (
    application_id TEXT PRIMARY KEY NOT NULL,
    reference TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    token_hash BYTEA NOT NULL,
    citizen_id TEXT,
    particulars BYTEA,
    credential_id TEXT UNIQUE,
    passkey TEXT,
    user_handle TEXT,
    outcome TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX applications_expires ON applications (expires_at);

CREATE TABLE officers (
    officer_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE officer_credentials (
    credential_id TEXT PRIMARY KEY NOT NULL,
    officer_id TEXT NOT NULL REFERENCES officers (officer_id) ON DELETE CASCADE,
    user_handle TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX officer_credentials_officer ON officer_credentials (officer_id);

CREATE TABLE officer_sessions (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    officer_id TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

-- The audit trail: appended, never changed. `seq` orders events within a second.
CREATE TABLE audit_events (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id TEXT,
    citizen_id TEXT,
    application_id TEXT,
    device_id TEXT,
    detail BYTEA
);
CREATE INDEX audit_events_citizen ON audit_events (citizen_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

CREATE TABLE rate_limits (
    bucket TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    window_secs BIGINT NOT NULL,
    hits BIGINT NOT NULL
);
