-- A device whose signature counter went backwards (a possible copy of its key) is suspended:
-- it cannot be used until the citizen removes it or proves themselves again.
ALTER TABLE devices ADD COLUMN suspended_at BIGINT;
