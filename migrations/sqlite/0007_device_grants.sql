-- Device authorization grants (RFC 8628): a terminal's request, found by the SHA-256 digest of
-- its device code (never the code) or by its user code, and what the person decided.
CREATE TABLE device_grants (
    device_hash BLOB PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    interval_secs INTEGER NOT NULL,
    polled_at INTEGER,
    client_address TEXT NOT NULL,
    client_agent TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    groups TEXT,
    decided_at INTEGER
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
