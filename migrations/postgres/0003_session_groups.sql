-- A session's provider groups, when there are too many for its token (the token carries
-- their digest instead): a JSON array of strings, read once per instance and kept in memory.
ALTER TABLE sessions ADD COLUMN groups TEXT;
