-- A refresh token's `family` was always the id of the session it belongs to: name it so.
-- Renaming keeps every row (and the tokens API clients hold keep working). Instances of the
-- previous version still query `family`: upgrade every instance together.
ALTER TABLE refresh_tokens RENAME COLUMN family TO sid;
ALTER INDEX refresh_tokens_family RENAME TO refresh_tokens_sid;
