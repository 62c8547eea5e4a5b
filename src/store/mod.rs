//! The store: everything doorman must remember across requests and restarts — users and
//! roles, password hashes, sessions, refresh tokens and revocations. One interface; the
//! backend (SQLite today) is chosen from `DATABASE_URL` at start.
//!
//! Below the domain rooms: it knows rows and transactions, not HTTP or tokens. Every method
//! that depends on the time takes `now` (seconds since the epoch) from the caller's clock.

mod sqlite;

use serde::Serialize;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Locked, read-only, full or unreachable: worth retrying later (503).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness or safety rule was hit: a taken username, the last admin (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("store error: {0}")]
    Internal(String),
}

/// What a client is told when the store fails: 503 (retry), 409, 404, or an internal error.
impl From<StoreError> for crate::error::AppError {
    fn from(err: StoreError) -> Self {
        use crate::error::AppError;
        use axum::http::StatusCode;
        match err {
            StoreError::Unavailable(reason) => AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the accounts store is busy or read-only; nothing was changed, try again shortly",
            )
            .page(
                "Temporarily unavailable",
                "doorman cannot reach its accounts store right now. Please try again in a minute.",
            )
            .detail(reason)
            .retry_after(2),
            StoreError::Conflict("last_admin") => AppError::new(
                StatusCode::CONFLICT,
                "last_admin",
                "this is the last admin: make someone else an admin first",
            ),
            StoreError::Conflict(what) => AppError::new(StatusCode::CONFLICT, "conflict", what),
            StoreError::NotFound => {
                AppError::new(StatusCode::NOT_FOUND, "not_found", "no such user")
            }
            StoreError::Internal(reason) => AppError::internal(reason),
        }
    }
}

crate::renders_as_app_error!(StoreError);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub kind: &'static str,
    pub username: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub subject: Option<String>,
    pub roles: Vec<String>,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
}

/// A local account with its password hash, for verification only.
pub struct LocalCredentials {
    pub user: User,
    pub password_hash: String,
}

pub struct NewLocalUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub roles: &'a [String],
}

pub struct OidcSignIn<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub name: Option<&'a str>,
    /// Grant `admin` if this sign-in creates the user (`ADMIN_EMAILS` is bootstrap-only: an
    /// admin's later removal of the role sticks).
    pub admin_if_new: bool,
}

/// What presenting a refresh token proved.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid and now spent; the new token continues the session.
    Rotated {
        user: Box<User>,
        new_token: String,
        sid: String,
    },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: someone is replaying it, so the whole session was revoked.
    Reused { sid: String },
}

/// An id (a session's `sid`, or a lone token's `jti`) refused until `expires_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub id: String,
    pub expires_at: u64,
}

/// How many rows a purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub revocations: usize,
    pub refresh_tokens: usize,
    pub sessions: usize,
    pub used_states: usize,
    pub counters: usize,
}

/// A named counter (the throttle's failures): `count` events, the last at `last`. A counter
/// that does not exist reads as zero at time zero; one set back to zero is deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counter {
    pub key: String,
    pub count: u32,
    pub last: u64,
}

/// The store, with its backend chosen at start.
#[derive(Clone)]
pub struct Store {
    backend: SqliteStore,
}

impl Store {
    /// Opens (creating and migrating) the store `url` names: a SQLite path, `sqlite://path`,
    /// `sqlite:path` or a SQLite URI (`file:x.db?mode=ro`).
    pub fn open(url: &str, now: u64) -> Result<Self, StoreError> {
        Ok(Self {
            backend: SqliteStore::open(url, now)?,
        })
    }

    /// Whether the store answers a query now (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }

    /// Writes out what the backend still buffers (at shutdown).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.backend.checkpoint().await
    }

    pub async fn has_local_accounts(&self) -> Result<bool, StoreError> {
        self.backend.has_local_accounts().await
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        self.backend.username_taken(username).await
    }

    /// `Conflict("username_taken")` when the name exists in any letter case.
    pub async fn create_local(&self, new: NewLocalUser<'_>, now: u64) -> Result<User, StoreError> {
        self.backend.create_local(new, now).await
    }

    pub async fn find_local(&self, username: &str) -> Result<Option<LocalCredentials>, StoreError> {
        self.backend.find_local(username).await
    }

    pub async fn record_login(&self, id: i64, now: u64) -> Result<(), StoreError> {
        self.backend.record_login(id, now).await
    }

    /// Records a provider sign-in, keyed by (issuer, subject); the profile is refreshed each time.
    pub async fn upsert_oidc(&self, sign_in: OidcSignIn<'_>, now: u64) -> Result<User, StoreError> {
        self.backend.upsert_oidc(sign_in, now).await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.backend.list_users().await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        self.backend.user(id).await
    }

    /// The user's roles now, or `None` if the user no longer exists.
    pub async fn current_roles(&self, id: i64) -> Result<Option<Vec<String>>, StoreError> {
        self.backend.current_roles(id).await
    }

    /// Replaces the user's roles and revokes every live session of theirs, so the change takes
    /// effect on their next request; each revocation lasts `revoke_for` seconds. Refuses
    /// (`Conflict("last_admin")`) to leave nobody with the admin role.
    pub async fn set_roles(
        &self,
        id: i64,
        roles: Vec<String>,
        now: u64,
        revoke_for: u64,
    ) -> Result<(User, Vec<Revocation>), StoreError> {
        self.backend.set_roles(id, roles, now, revoke_for).await
    }

    /// Deletes the user after revoking their live sessions; refuses to delete the last admin.
    pub async fn delete_user(
        &self,
        id: i64,
        now: u64,
        revoke_for: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        self.backend.delete_user(id, now, revoke_for).await
    }

    /// Records a new session of `user_id` that lasts until `expires_at`.
    pub async fn create_session(
        &self,
        sid: &str,
        user_id: i64,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        self.backend
            .create_session(sid, user_id, now, expires_at)
            .await
    }

    /// Starts the refresh-token chain of session `sid`; returns the token (shown once).
    pub async fn issue_refresh_token(
        &self,
        user_id: i64,
        sid: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<String, StoreError> {
        self.backend
            .issue_refresh_token(user_id, sid, ttl_secs, now)
            .await
    }

    /// Spends `token` and issues its successor, or reports why it cannot be used. Reuse of a
    /// spent token revokes the session (its family), recorded as lasting `revoke_for` seconds.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        ttl_secs: u64,
        now: u64,
        revoke_for: u64,
    ) -> Result<RefreshOutcome, StoreError> {
        self.backend
            .rotate_refresh_token(token, ttl_secs, now, revoke_for)
            .await
    }

    /// The session `token` belongs to, if the token is known.
    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        self.backend.refresh_token_session(token).await
    }

    /// Records revocations (idempotent) and ends the refresh-token families of those that are
    /// sessions.
    pub async fn revoke(&self, revocations: &[Revocation], now: u64) -> Result<(), StoreError> {
        self.backend.revoke(revocations.to_vec(), now).await
    }

    /// Every revocation still in force at `now`: what the in-memory set starts from.
    pub async fn live_revocations(&self, now: u64) -> Result<Vec<Revocation>, StoreError> {
        self.backend.live_revocations(now).await
    }

    /// Records the first use of a one-time value (by digest) until `expires_at`: `true` the
    /// first time, `false` for every replay while the record lasts. Atomic.
    pub async fn claim_once(&self, digest: [u8; 32], expires_at: u64) -> Result<bool, StoreError> {
        self.backend.claim_once(digest, expires_at).await
    }

    /// Reads the counters `keys`, lets `update` change them, and writes them back, all in one
    /// transaction: concurrent updates of the same keys are serialised.
    pub async fn update_counters<R, F>(&self, keys: Vec<String>, update: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut [Counter]) -> R + Send + 'static,
    {
        self.backend.update_counters(keys, update).await
    }

    /// Deletes what can no longer matter: expired revocations, refresh tokens, sessions and
    /// used states, and counters untouched since `counters_before`.
    pub async fn purge(&self, now: u64, counters_before: u64) -> Result<Purged, StoreError> {
        self.backend.purge(now, counters_before).await
    }
}

#[cfg(test)]
mod tests;
