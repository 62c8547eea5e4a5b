-- What a session keeps of the provider's session: its `sid` (the ID token's), which a
-- back-channel logout names, and the ID token sealed with a key derived from SESSION_SECRET,
-- sent back as `id_token_hint` when the person signs out at the provider.
ALTER TABLE sessions ADD COLUMN provider_sid TEXT;
ALTER TABLE sessions ADD COLUMN id_token_hint TEXT;
CREATE INDEX sessions_provider_sid ON sessions (provider_sid) WHERE provider_sid IS NOT NULL;
