-- eid schema, SQLite flavour. Times are Unix seconds; secrets and personal data are sealed
-- (AES-256-GCM) or hashed before they reach this schema.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY NOT NULL,
    alg TEXT NOT NULL,
    private_key BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE clients (
    client_id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    secret_hash BLOB NOT NULL,
    redirect_uris TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE citizens (
    citizen_id TEXT PRIMARY KEY NOT NULL,
    hkid_index BLOB NOT NULL UNIQUE,
    profile BLOB NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE devices (
    device_id TEXT PRIMARY KEY NOT NULL,
    citizen_id TEXT NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX devices_citizen ON devices (citizen_id);

CREATE TABLE ceremonies (
    ceremony_id TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL,
    citizen_id TEXT,
    state BLOB NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE auth_requests (
    request_id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    state TEXT,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    browser_hash BLOB NOT NULL,
    csrf_token TEXT NOT NULL,
    approval_state BLOB,
    status TEXT NOT NULL,
    citizen_id TEXT,
    device_id TEXT,
    auth_time BIGINT,
    code_hash BLOB UNIQUE,
    code_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_requests_expires ON auth_requests (expires_at);

CREATE TABLE access_tokens (
    token_hash BLOB PRIMARY KEY NOT NULL,
    request_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    citizen_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX access_tokens_request ON access_tokens (request_id);

CREATE TABLE consents (
    citizen_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (citizen_id, client_id)
);

CREATE TABLE wallet_sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    citizen_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
