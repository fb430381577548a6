DROP INDEX applications_citizen;
ALTER TABLE applications DROP COLUMN held_proof;
ALTER TABLE applications DROP COLUMN held_until;
