-- Single sign-on sessions: one per citizen and browser, opened when the browser continues a
-- login the phone approved. Found by the hash of the cookie's secret (replaced at each login
-- there); listed by session_id. context (browser, operating system) is sealed (AAD: the
-- session id). A session dies with its device (join on devices), when idle or at expires_at.
CREATE TABLE browser_sessions (
    session_id TEXT PRIMARY KEY NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    citizen_id TEXT NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    device_id TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    context BLOB,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX browser_sessions_citizen ON browser_sessions (citizen_id);

-- The logins a session opened or answered: the relying party, and the login's id (its ID
-- tokens' sid), so that ending the session reaches them all.
CREATE TABLE session_logins (
    request_id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL REFERENCES browser_sessions (session_id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);
CREATE INDEX session_logins_session ON session_logins (session_id);
