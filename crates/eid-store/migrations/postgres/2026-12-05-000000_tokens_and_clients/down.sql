ALTER TABLE auth_requests DROP COLUMN expected_sub;
DROP TABLE logout_deliveries;
ALTER TABLE auth_requests DROP COLUMN claims_request;
ALTER TABLE auth_requests DROP COLUMN response_mode;
DROP TABLE seen_jtis;
ALTER TABLE clients DROP COLUMN secret_sealed;
ALTER TABLE clients DROP COLUMN metadata;
DROP INDEX access_tokens_grant;
DROP TABLE refresh_tokens;
