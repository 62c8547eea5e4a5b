-- Everybody doorman knows: local accounts (username + argon2id hash) and people who signed in
-- through the OpenID provider (issuer + subject, never the email), each with roles.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT UNIQUE COLLATE NOCASE,
    email           TEXT,
    email_verified  INTEGER NOT NULL DEFAULT 0,
    name            TEXT,
    password_hash   TEXT,
    issuer          TEXT,
    subject         TEXT,
    created_at      INTEGER NOT NULL,
    last_login_at   INTEGER,
    UNIQUE (issuer, subject),
    CHECK ((username IS NOT NULL AND password_hash IS NOT NULL)
        OR (issuer IS NOT NULL AND subject IS NOT NULL))
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, role)
);

-- Refresh tokens are stored as SHA-256 digests only. A family is one login's chain of
-- rotations: reuse of a spent token revokes the whole family.
CREATE TABLE refresh_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family      TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    revoked_at  INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
