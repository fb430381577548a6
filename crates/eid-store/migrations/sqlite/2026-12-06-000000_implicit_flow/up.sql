-- What an authorization response carries: NULL for a code, or `id_token` / `id_token token`
-- where the operator allows the implicit flow (OIDC Core §3.2).
ALTER TABLE auth_requests ADD COLUMN response_type TEXT;
