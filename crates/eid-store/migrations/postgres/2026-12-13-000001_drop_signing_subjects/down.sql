CREATE TABLE subjects (
    sector TEXT NOT NULL,
    sub TEXT NOT NULL,
    citizen_id TEXT NOT NULL REFERENCES citizens (citizen_id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (sector, sub)
);
