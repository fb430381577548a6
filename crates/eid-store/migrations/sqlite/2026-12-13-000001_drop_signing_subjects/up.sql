-- Signing requests are authorised by the citizen's access token with the `sign` scope (review
-- 2026-12-07, L1): the index from a client's pairwise sub to the citizen, which was never
-- removed and let a service ask for signatures for ever after one login, goes.
DROP TABLE subjects;
