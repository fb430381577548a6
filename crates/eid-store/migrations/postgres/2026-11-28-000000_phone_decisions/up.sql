-- Approvals are decided on the phone: what the citizen shares travels inside the signed
-- approval, the browser only continues. Login requests become small.

-- Logins in flight were started under the old flow; they have minutes to live.
DELETE FROM auth_requests WHERE status IN ('pending', 'approved');
-- The approval challenge is derived from the request id; the column now holds the sealed
-- context the phone shows (the requesting browser and its address).
UPDATE auth_requests SET approval_state = NULL;
ALTER TABLE auth_requests RENAME COLUMN approval_state TO context;
-- The CSRF token is derived from the request id under a server key.
ALTER TABLE auth_requests DROP COLUMN csrf_token;
-- The prompt values (OIDC Core 3.1.2.1) and the claims the citizen chose to share.
ALTER TABLE auth_requests ADD COLUMN prompt TEXT;
ALTER TABLE auth_requests ADD COLUMN granted TEXT;

-- Access tokens release the claims chosen, not whole scopes.
ALTER TABLE access_tokens ADD COLUMN claims TEXT NOT NULL DEFAULT '';

-- Standing consents were recorded from the browser, where whoever held the login page decided:
-- none of them is known to be the citizen's. Consent is now recorded from the phone only, per
-- claim.
DELETE FROM consents;
ALTER TABLE consents RENAME COLUMN scope TO claims;
