-- Refresh tokens (RFC 6749 §6) for offline access, stored by hash. A token is rotated at each
-- use: the spent one is kept (used_at) until it expires, so that presenting it again is seen
-- as a reuse and revokes its family, the grant (family_id: the authorization request that
-- started it), with the family's access tokens.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY NOT NULL,
    family_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    citizen_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    claims TEXT NOT NULL,
    acr TEXT NOT NULL,
    amr TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    family_expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (citizen_id, client_id);
CREATE INDEX access_tokens_grant ON access_tokens (citizen_id, client_id);

-- A client's registered metadata (RFC 7591 §2) as JSON: its token endpoint authentication
-- method, its public keys (jwks) and what comes with them. A client_secret_jwt client's secret
-- is kept sealed, since eid must verify HMACs with it; every other secret only as a hash.
ALTER TABLE clients ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE clients ADD COLUMN secret_sealed BYTEA;

-- Single-use JWT ids (client assertions, later DPoP proofs and request objects), kept until the
-- JWT expires; scope names whose ids they are (client_assertion:<client_id>).
CREATE TABLE seen_jtis (
    scope TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, jti)
);
CREATE INDEX seen_jtis_expires ON seen_jtis (expires_at);

-- How the authorization response goes back (NULL: query; form_post), and the claims the
-- client asked for with the claims parameter (OIDC Core §5.5), as JSON.
ALTER TABLE auth_requests ADD COLUMN response_mode TEXT;
ALTER TABLE auth_requests ADD COLUMN claims_request TEXT;

-- Back-channel logout tokens (OIDC Back-Channel Logout 1.0) waiting to be delivered to relying
-- parties, retried with growing delays until delivered or given up.
CREATE TABLE logout_deliveries (
    delivery_id TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    logout_token TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (next_attempt_at);

-- The citizen the client expects (the pairwise sub of its id_token_hint): only that citizen's
-- phone may approve.
ALTER TABLE auth_requests ADD COLUMN expected_sub TEXT;

-- DPoP (RFC 9449): the thumbprint of the key a login's code is bound to (dpop_jkt, given at the
-- authorization request or by the proof at PAR), and of the key each access token is bound to
-- (NULL: a bearer token). Refresh tokens are held to their client by its authentication (§5).
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT;
ALTER TABLE access_tokens ADD COLUMN jkt TEXT;

-- The pushed request (RFC 9126) a login was opened from: its request_uri may open the login
-- again until a code is issued from it, and then never.
ALTER TABLE auth_requests ADD COLUMN par_id TEXT;

-- A removed device ends the grants it approved: its refresh tokens are found by its id. (Its
-- logins are found by scanning auth_requests, which holds only recent logins: an index there
-- would cost every login a write for the rare removal.)
CREATE INDEX refresh_tokens_device ON refresh_tokens (device_id);
