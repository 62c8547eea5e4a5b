-- A refresh token's `family` was always the id of the session it belongs to: name it so.
-- Renaming keeps every row (and the tokens API clients hold keep working); the index follows
-- the column, and takes the column's name too.
ALTER TABLE refresh_tokens RENAME COLUMN family TO sid;
DROP INDEX refresh_tokens_family;
CREATE INDEX refresh_tokens_sid ON refresh_tokens (sid);
