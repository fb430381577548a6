ALTER TABLE consents RENAME COLUMN claims TO scope;
ALTER TABLE access_tokens DROP COLUMN claims;
ALTER TABLE auth_requests DROP COLUMN granted;
ALTER TABLE auth_requests DROP COLUMN prompt;
DELETE FROM auth_requests WHERE status IN ('pending', 'approved');
ALTER TABLE auth_requests ADD COLUMN csrf_token TEXT NOT NULL DEFAULT '';
ALTER TABLE auth_requests RENAME COLUMN context TO approval_state;
