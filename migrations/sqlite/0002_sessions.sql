-- Sessions: one per sign-in. Access tokens name theirs in `sid`, and an API client's
-- refresh-token family is its session, so revoking a session ends all of its tokens at once.
CREATE TABLE sessions (
    sid         TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Revoked session ids (or, for a token without a session, its token id), kept until every
-- token they cover has expired. Loaded into memory at start, so a restart forgets nothing.
CREATE TABLE revocations (
    id          TEXT PRIMARY KEY,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL
);
CREATE INDEX revocations_expires ON revocations (expires_at);

CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- OAuth `state` values already used at the callback (SHA-256 digests, never the values), so
-- a callback is accepted once.
CREATE TABLE used_states (
    state_hash  BLOB PRIMARY KEY,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX used_states_expires ON used_states (expires_at);

-- Failed password attempts per throttle key (account and client, or client alone).
CREATE TABLE throttle (
    key      TEXT PRIMARY KEY,
    count    INTEGER NOT NULL,
    last_at  INTEGER NOT NULL
);
CREATE INDEX throttle_last ON throttle (last_at);
