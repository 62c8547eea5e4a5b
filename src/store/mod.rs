//! The store: everything doorman must remember across requests and restarts — users and
//! roles, password hashes, sessions, refresh tokens and revocations. One interface, two
//! backends chosen from `DATABASE_URL` at start: SQLite (a path or `sqlite://`; one instance)
//! and PostgreSQL (`postgres://`; any number of instances, revocations pushed to all of them).
//!
//! Below the domain rooms: it knows rows and transactions, not HTTP or tokens. Every method
//! that depends on the time takes `now` (seconds since the epoch) from the caller's clock.

mod error;
mod model;
mod postgres;
mod sqlite;
mod url;

pub use error::StoreError;
pub use model::{
    Counter, DeviceDecision, DeviceGrant, DevicePoll, LocalCredentials, NewDeviceGrant,
    NewLocalUser, NewSession, OidcSignIn, ProviderLogout, Purged, RefreshOutcome, Revocation, User,
};
pub use postgres::{PgSettings, PgStore, RevocationFeed};
pub use sqlite::SqliteStore;
pub use url::{is_postgres_url, redacted};

/// Calls `$method` on whichever backend this store has.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(Box<PgStore>),
}

/// The store, with its backend chosen at start.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Opens (creating and migrating) the store `url` names: a SQLite path, `sqlite://path`,
    /// `sqlite:path` or a SQLite URI (`file:x.db?mode=ro`).
    /// A `postgres://` URL gives the PostgreSQL backend with default settings.
    pub fn open(url: &str, now: u64) -> Result<Self, StoreError> {
        Self::open_with(
            url,
            now,
            &PgSettings {
                pool_size: 8,
                ca_file: None,
                application_name: "doorman".into(),
            },
        )
    }

    /// As [`Self::open`], with the PostgreSQL settings. SQLite is opened and migrated here;
    /// PostgreSQL only gets its pool (nothing is reached yet: see [`Self::migrate`]).
    pub fn open_with(url: &str, now: u64, pg: &PgSettings) -> Result<Self, StoreError> {
        let backend = if is_postgres_url(url) {
            Backend::Postgres(Box::new(PgStore::connect(url, pg)?))
        } else {
            Backend::Sqlite(SqliteStore::open(url, now)?)
        };
        Ok(Self { backend })
    }

    /// Whether several instances may share this store (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// How the connections to a PostgreSQL store are protected; `None` for SQLite.
    pub fn tls_mode(&self) -> Option<crate::config::DatabaseTls> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.tls_mode()),
        }
    }

    /// What the store is, for logs and `doorman check`; never a password.
    pub fn description(&self) -> String {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite".into(),
            Backend::Postgres(pg) => pg.description().to_owned(),
        }
    }

    /// Applies pending migrations (PostgreSQL; SQLite migrates when opened). Until this has
    /// succeeded, every other operation answers `Unavailable`.
    pub async fn migrate(&self, now: u64) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(pg) => pg.migrate(now).await,
        }
    }

    /// A live feed of revocations made by any instance (PostgreSQL); `None` for SQLite,
    /// whose one instance makes them all.
    pub async fn listen_revocations(&self) -> Result<Option<RevocationFeed>, StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pg) => pg.listen_revocations().await.map(Some),
        }
    }

    /// Revocations in force that changed since `cursor` (all of them for `None`), and the
    /// next cursor. On SQLite every call reads them all.
    pub async fn revocations_changed(
        &self,
        cursor: Option<i64>,
        now: u64,
    ) -> Result<(Vec<Revocation>, i64), StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => Ok((b.live_revocations(now).await?, 0)),
            Backend::Postgres(pg) => pg.revocations_changed(cursor, now).await,
        }
    }

    /// Whether the store answers a query now (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self.ping())
    }

    /// Writes out what the backend still buffers (at shutdown).
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        dispatch!(self.checkpoint())
    }

    pub async fn has_local_accounts(&self) -> Result<bool, StoreError> {
        dispatch!(self.has_local_accounts())
    }

    pub async fn username_taken(&self, username: &str) -> Result<bool, StoreError> {
        dispatch!(self.username_taken(username))
    }

    /// `Conflict("username_taken")` when the name exists in any letter case.
    pub async fn create_local(&self, new: NewLocalUser<'_>, now: u64) -> Result<User, StoreError> {
        dispatch!(self.create_local(new, now))
    }

    pub async fn find_local(&self, username: &str) -> Result<Option<LocalCredentials>, StoreError> {
        dispatch!(self.find_local(username))
    }

    pub async fn record_login(&self, id: i64, now: u64) -> Result<(), StoreError> {
        dispatch!(self.record_login(id, now))
    }

    /// Records a provider sign-in, keyed by (issuer, subject); the profile is refreshed each time.
    pub async fn upsert_oidc(&self, sign_in: OidcSignIn<'_>, now: u64) -> Result<User, StoreError> {
        dispatch!(self.upsert_oidc(sign_in, now))
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        dispatch!(self.list_users())
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        dispatch!(self.user(id))
    }

    /// The user's roles now, or `None` if the user no longer exists.
    pub async fn current_roles(&self, id: i64) -> Result<Option<Vec<String>>, StoreError> {
        dispatch!(self.current_roles(id))
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
        dispatch!(self.set_roles(id, roles, now, revoke_for))
    }

    /// Deletes the user after revoking their live sessions; refuses to delete the last admin.
    pub async fn delete_user(
        &self,
        id: i64,
        now: u64,
        revoke_for: u64,
    ) -> Result<Vec<Revocation>, StoreError> {
        dispatch!(self.delete_user(id, now, revoke_for))
    }

    /// Records a new session (see [`NewSession`]).
    pub async fn create_session(&self, new: NewSession<'_>, now: u64) -> Result<(), StoreError> {
        dispatch!(self.create_session(new, now))
    }

    /// Session `sid` now lasts until at least `expires_at` (a renewed token): its revocations,
    /// by role change or provider logout, still find it. `false` when there is no such session.
    pub async fn extend_session(&self, sid: &str, expires_at: u64) -> Result<bool, StoreError> {
        dispatch!(self.extend_session(sid, expires_at))
    }

    /// Claims the recheck of session `sid` at the provider for this instance: its sealed
    /// refresh token when it has one, was last checked no later than `checked_before`, and no
    /// instance claimed it in the last `lease_secs`; else `None`.
    pub async fn claim_provider_refresh(
        &self,
        sid: &str,
        now: u64,
        checked_before: u64,
        lease_secs: u64,
    ) -> Result<Option<String>, StoreError> {
        dispatch!(self.claim_provider_refresh(sid, now, checked_before, lease_secs))
    }

    /// Ends the recheck this instance claimed at `claimed_at` (nothing, if another instance
    /// holds the claim now or the session ended meanwhile): the new sealed refresh token (if the
    /// provider rotated it), the time of a successful check (`None`: it failed), and what the
    /// claim is left at (`None`: released; a time: no instance claims it again before that
    /// time plus the lease, a back-off).
    pub async fn finish_provider_refresh(
        &self,
        sid: &str,
        claimed_at: u64,
        sealed: Option<&str>,
        checked: Option<u64>,
        claimed_until: Option<u64>,
    ) -> Result<(), StoreError> {
        dispatch!(self.finish_provider_refresh(sid, claimed_at, sealed, checked, claimed_until))
    }

    /// Replaces the groups recorded with session `sid` (a JSON array).
    pub async fn set_session_groups(&self, sid: &str, groups: &str) -> Result<(), StoreError> {
        dispatch!(self.set_session_groups(sid, groups))
    }

    /// The sealed ID token recorded with session `sid`, if any.
    pub async fn session_id_token_hint(&self, sid: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.session_id_token_hint(sid))
    }

    /// Carries out a provider's back-channel logout in one transaction: its token is
    /// claimed once (`None`: it was seen before, and nothing else happens), then every live
    /// session it names is revoked (each revocation lasting until the session ends or
    /// `revoke_for` seconds pass), with their refresh tokens. Returns the revocations.
    pub async fn provider_logout(
        &self,
        logout: ProviderLogout<'_>,
        now: u64,
        revoke_for: u64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        dispatch!(self.provider_logout(logout, now, revoke_for))
    }

    /// The groups recorded with session `sid` (a JSON array), if any.
    pub async fn session_groups(&self, sid: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.session_groups(sid))
    }

    /// Starts the refresh-token chain of session `sid`; returns the token (shown once).
    pub async fn issue_refresh_token(
        &self,
        user_id: i64,
        sid: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<String, StoreError> {
        dispatch!(self.issue_refresh_token(user_id, sid, ttl_secs, now))
    }

    /// Spends `token` and issues its successor, or reports why it cannot be used. Reuse of a
    /// spent token revokes its session, recorded as lasting `revoke_for` seconds.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        ttl_secs: u64,
        now: u64,
        revoke_for: u64,
    ) -> Result<RefreshOutcome, StoreError> {
        dispatch!(self.rotate_refresh_token(token, ttl_secs, now, revoke_for))
    }

    /// The session `token` belongs to, if the token is known.
    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self.refresh_token_session(token))
    }

    /// Records revocations (idempotent) and ends the refresh tokens of those that are sessions.
    pub async fn revoke(&self, revocations: &[Revocation], now: u64) -> Result<(), StoreError> {
        dispatch!(self.revoke(revocations.to_vec(), now))
    }

    /// Every revocation still in force at `now`: what the in-memory set starts from.
    pub async fn live_revocations(&self, now: u64) -> Result<Vec<Revocation>, StoreError> {
        dispatch!(self.live_revocations(now))
    }

    /// Keeps a terminal's new device grant; `Conflict` when its user code is taken.
    pub async fn create_device_grant(
        &self,
        new: NewDeviceGrant,
        now: u64,
    ) -> Result<(), StoreError> {
        dispatch!(self.create_device_grant(new, now))
    }

    /// The device grant with user code `user_code` (normalised), whatever its state.
    pub async fn device_grant(&self, user_code: &str) -> Result<Option<DeviceGrant>, StoreError> {
        dispatch!(self.device_grant(user_code))
    }

    /// Records the person's decision on a pending, unexpired grant; `false` when it was not
    /// one (decided already, expired, unknown).
    pub async fn decide_device_grant(
        &self,
        user_code: &str,
        decision: DeviceDecision,
        now: u64,
    ) -> Result<bool, StoreError> {
        dispatch!(self.decide_device_grant(user_code, decision, now))
    }

    /// A terminal's poll with the digest of its device code, answered and recorded in one
    /// transaction (an approval is handed out once, whichever instance is asked).
    pub async fn poll_device_grant(
        &self,
        device_hash: [u8; 32],
        now: u64,
    ) -> Result<DevicePoll, StoreError> {
        dispatch!(self.poll_device_grant(device_hash, now))
    }

    /// Records the first use of a one-time value (by digest) until `expires_at`: `true` the
    /// first time, `false` for every replay while the record lasts. Atomic.
    pub async fn claim_once(&self, digest: [u8; 32], expires_at: u64) -> Result<bool, StoreError> {
        dispatch!(self.claim_once(digest, expires_at))
    }

    /// Reads the counters `keys`, lets `update` change them, and writes them back, all in one
    /// transaction: concurrent updates of the same keys are serialised.
    pub async fn update_counters<R, F>(&self, keys: Vec<String>, update: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut [Counter]) -> R + Send + 'static,
    {
        dispatch!(self.update_counters(keys, update))
    }

    /// Deletes what can no longer matter: expired revocations, refresh tokens, sessions and
    /// used states, and counters untouched since `counters_before`.
    pub async fn purge(&self, now: u64, counters_before: u64) -> Result<Purged, StoreError> {
        dispatch!(self.purge(now, counters_before))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod redaction {
    #[test]
    fn a_database_password_never_reaches_a_message() {
        for url in [
            "postgres://doorman:s3cr%40t@db.internal:5432/doorman?sslmode=require",
            "postgresql://doorman:s3cr%40t@/doorman?host=/run/pg",
            "postgresql://doorman@db/doorman?password=s3cr%40t&sslmode=require",
        ] {
            let shown = super::redacted(url);
            assert!(!shown.contains("s3cr"), "{shown}");
            assert!(
                shown.contains("doorman") && shown.contains("********"),
                "{shown}"
            );
        }
        assert_eq!(super::redacted("doorman.db"), "doorman.db");
    }
}
