-- Device authorization grants (RFC 8628): a terminal's request, found by the SHA-256 digest of
-- its device code (never the code) or by its user code, and what the person decided.
CREATE TABLE device_grants (
    device_hash BYTEA PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    polled_at BIGINT,
    client_address TEXT NOT NULL,
    client_agent TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    user_id BIGINT REFERENCES users (id) ON DELETE CASCADE,
    groups TEXT,
    decided_at BIGINT
);
CREATE INDEX device_grants_expires_at ON device_grants (expires_at);
