DROP TABLE session_logins;
DROP TABLE browser_sessions;
