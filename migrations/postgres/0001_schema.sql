-- doorman's schema on PostgreSQL: the same tables as the SQLite store, so both backends behave
-- alike. Times are seconds since the epoch (BIGINT) as the application's clock gives them,
-- except `revocations.changed_at`, the database's own clock, which orders the revocation feed.

-- Everybody doorman knows: local accounts (username + argon2id hash) and people who signed in
-- through the OpenID provider (issuer + subject, never the email), each with roles.
CREATE TABLE users (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username        TEXT,
    email           TEXT,
    email_verified  BOOLEAN NOT NULL DEFAULT false,
    name            TEXT,
    password_hash   TEXT,
    issuer          TEXT,
    subject         TEXT,
    created_at      BIGINT NOT NULL,
    last_login_at   BIGINT,
    UNIQUE (issuer, subject),
    CHECK ((username IS NOT NULL AND password_hash IS NOT NULL)
        OR (issuer IS NOT NULL AND subject IS NOT NULL))
);
-- Usernames are unique whatever their letter case (SQLite: COLLATE NOCASE).
CREATE UNIQUE INDEX users_username_lower ON users (lower(username));

CREATE TABLE user_roles (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Refresh tokens are stored as SHA-256 digests only. A family is one session's chain of
-- rotations: reuse of a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family      TEXT NOT NULL,
    token_hash  BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- Sessions: one per sign-in; access tokens name theirs in `sid`.
CREATE TABLE sessions (
    sid         TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

-- Revoked session ids (or, for a token without a session, its token id), kept until every
-- token they cover has expired. Every instance keeps them in memory: pushed with NOTIFY on
-- `doorman_revocations`, and read again by `changed_at` (the database's clock) so a missed
-- notification is repaired.
CREATE TABLE revocations (
    id          TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX revocations_expires ON revocations (expires_at);
CREATE INDEX revocations_changed ON revocations (changed_at);

-- OAuth `state` values already used at the callback (SHA-256 digests), accepted once across
-- every instance.
CREATE TABLE used_states (
    state_hash  BYTEA PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX used_states_expires ON used_states (expires_at);

-- Failed password attempts per throttle key, counted across every instance.
CREATE TABLE throttle (
    key      TEXT PRIMARY KEY,
    count    INTEGER NOT NULL,
    last_at  BIGINT NOT NULL
);
CREATE INDEX throttle_last ON throttle (last_at);
