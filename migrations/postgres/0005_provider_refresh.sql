-- OIDC_REFRESH: the provider's refresh token of a session, sealed with a key derived from
-- SESSION_SECRET (deleted when the session ends), when the provider was last asked about the
-- session, and which instance is asking it now (so one refresh is done at a time).
ALTER TABLE sessions ADD COLUMN provider_refresh TEXT;
ALTER TABLE sessions ADD COLUMN checked_at BIGINT;
ALTER TABLE sessions ADD COLUMN refresh_claimed_at BIGINT;
