DROP INDEX access_tokens_grant;
DROP TABLE refresh_tokens;
