//! The accounts store: SQLite through one connection behind a mutex, used from blocking
//! threads. Migrations in `migrations/` are applied at start-up, each once, in order.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../../migrations/0001_accounts.sql"))];

/// How long a write waits for another writer before the store reports itself unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Locked, read-only, full or unreachable: worth retrying later (503).
    #[error("the accounts store is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was hit, e.g. a taken username (409).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("accounts store error: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(
                ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::ReadOnly
                | ErrorCode::CannotOpen
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::PermissionDenied,
            ) => StoreError::Unavailable(err.to_string()),
            Some(ErrorCode::ConstraintViolation) => StoreError::Conflict("already exists"),
            _ => StoreError::Internal(err.to_string()),
        }
    }
}

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
    /// Grant `admin` (from `ADMIN_EMAILS`); never removes a role.
    pub make_admin: bool,
}

/// What presenting a refresh token proved.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// Valid and now spent; the new token continues the family.
    Rotated { user: Box<User>, new_token: String },
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: someone is replaying it, so the whole family was revoked.
    Reused,
}

#[derive(Clone)]
pub struct AccountStore {
    conn: Arc<Mutex<Connection>>,
}

/// `DATABASE_URL` forms: a path (`doorman.db`), `sqlite://path`, `sqlite:path`, or a SQLite
/// URI (`file:doorman.db?mode=ro`).
pub fn open_connection(url: &str) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let target = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    let conn = Connection::open_with_flags(Path::new(target), flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
    )
    .or_else(|err| {
        // A read-only store whose schema is already current is still usable for reads.
        if err.sqlite_error_code() == Some(ErrorCode::ReadOnly) { Ok(()) } else { Err(err) }
    })?;
    for (version, sql) in MIGRATIONS {
        let applied: bool = conn
            .query_row(
                "SELECT 1 FROM schema_migrations WHERE version = ?1",
                [version],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if applied {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, crate::session::now_secs() as i64],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// 256 random bits, base64url: unguessable, and only its digest is stored.
pub fn new_refresh_token() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

const USER_COLUMNS: &str =
    "id, username, email, email_verified, name, issuer, subject, created_at, last_login_at";

fn user_from_row(conn: &Connection, row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let id: i64 = row.get(0)?;
    let issuer: Option<String> = row.get(5)?;
    Ok(User {
        id,
        kind: if issuer.is_some() { "oidc" } else { "local" },
        username: row.get(1)?,
        email: row.get(2)?,
        email_verified: row.get(3)?,
        name: row.get(4)?,
        issuer,
        subject: row.get(6)?,
        roles: roles_of(conn, id)?,
        created_at: row.get(7)?,
        last_login_at: row.get(8)?,
    })
}

fn roles_of(conn: &Connection, id: i64) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT role FROM user_roles WHERE user_id = ?1 ORDER BY role")?;
    stmt.query_map([id], |r| r.get(0))?.collect()
}

fn user_by_id(conn: &Connection, id: i64) -> Result<User, StoreError> {
    conn.query_row(
        &format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1"),
        [id],
        |row| user_from_row(conn, row),
    )
    .optional()?
    .ok_or(StoreError::NotFound)
}

impl AccountStore {
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut conn = open_connection(url)?;
        // WAL lets readers continue during a write; a read-only store keeps its mode.
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        migrate(&mut conn)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on a blocking thread with the connection.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
            work(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task: {e}")))?
    }

    pub async fn has_local_accounts(&self) -> Result<bool, StoreError> {
        self.run(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE password_hash IS NOT NULL)",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn create_local(&self, new: NewLocalUser<'_>) -> Result<User, StoreError> {
        let (username, email, name, hash, roles) = (
            new.username.to_owned(),
            new.email.to_owned(),
            new.name.to_owned(),
            new.password_hash.to_owned(),
            new.roles.to_vec(),
        );
        self.run(move |c| {
            let tx = c.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO users (username, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![username, email, name, hash, crate::session::now_secs() as i64],
            );
            match inserted {
                Err(e) if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) => {
                    return Err(StoreError::Conflict("username_taken"));
                }
                other => other?,
            };
            let id = tx.last_insert_rowid();
            for role in &roles {
                tx.execute("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)", params![id, role])?;
            }
            let user = user_by_id(&tx, id)?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    pub async fn find_local(&self, username: &str) -> Result<Option<LocalCredentials>, StoreError> {
        let username = username.to_owned();
        self.run(move |c| {
            let row: Option<(i64, String)> = c
                .query_row(
                    "SELECT id, password_hash FROM users WHERE username = ?1 AND password_hash IS NOT NULL",
                    [&username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            row.map(|(id, password_hash)| Ok(LocalCredentials { user: user_by_id(c, id)?, password_hash }))
                .transpose()
        })
        .await
    }

    pub async fn record_login(&self, id: i64) -> Result<(), StoreError> {
        self.run(move |c| {
            c.execute(
                "UPDATE users SET last_login_at = ?1 WHERE id = ?2",
                params![crate::session::now_secs() as i64, id],
            )?;
            Ok(())
        })
        .await
    }

    /// Records a provider sign-in, keyed by (issuer, subject); the profile is refreshed each time.
    pub async fn upsert_oidc(&self, sign_in: OidcSignIn<'_>) -> Result<User, StoreError> {
        let issuer = sign_in.issuer.to_owned();
        let subject = sign_in.subject.to_owned();
        let email = sign_in.email.map(str::to_owned);
        let name = sign_in.name.map(str::to_owned);
        let (verified, make_admin) = (sign_in.email_verified, sign_in.make_admin);
        self.run(move |c| {
            let now = crate::session::now_secs() as i64;
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO users (issuer, subject, email, email_verified, name, created_at, last_login_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
                 ON CONFLICT (issuer, subject) DO UPDATE SET
                   email = excluded.email, email_verified = excluded.email_verified,
                   name = excluded.name, last_login_at = excluded.last_login_at",
                params![issuer, subject, email, verified, name, now],
            )?;
            let id: i64 = tx.query_row(
                "SELECT id FROM users WHERE issuer = ?1 AND subject = ?2",
                params![issuer, subject],
                |r| r.get(0),
            )?;
            if make_admin {
                tx.execute("INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, 'admin')", [id])?;
            }
            let user = user_by_id(&tx, id)?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        self.run(|c| {
            let mut stmt = c.prepare(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY id"))?;
            let users = stmt
                .query_map([], |row| user_from_row(c, row))?
                .collect::<Result<_, _>>()?;
            Ok(users)
        })
        .await
    }

    pub async fn user(&self, id: i64) -> Result<User, StoreError> {
        self.run(move |c| user_by_id(c, id)).await
    }

    pub async fn set_roles(&self, id: i64, roles: Vec<String>) -> Result<User, StoreError> {
        self.run(move |c| {
            let tx = c.transaction()?;
            user_by_id(&tx, id)?;
            tx.execute("DELETE FROM user_roles WHERE user_id = ?1", [id])?;
            for role in &roles {
                tx.execute(
                    "INSERT OR IGNORE INTO user_roles (user_id, role) VALUES (?1, ?2)",
                    params![id, role],
                )?;
            }
            let user = user_by_id(&tx, id)?;
            tx.commit()?;
            Ok(user)
        })
        .await
    }

    /// Deletes the user; their refresh tokens go with them (ON DELETE CASCADE).
    pub async fn delete_user(&self, id: i64) -> Result<(), StoreError> {
        self.run(
            move |c| match c.execute("DELETE FROM users WHERE id = ?1", [id])? {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            },
        )
        .await
    }

    /// Starts a new refresh-token family for `user_id`; returns the token (shown once).
    pub async fn issue_refresh_token(
        &self,
        user_id: i64,
        ttl_secs: u64,
    ) -> Result<String, StoreError> {
        self.run(move |c| {
            let token = new_refresh_token();
            let family = new_refresh_token();
            insert_refresh(c, user_id, &family, &token, ttl_secs)?;
            Ok(token)
        })
        .await
    }

    /// Spends `token` and issues its successor, or reports why it cannot be used.
    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        ttl_secs: u64,
    ) -> Result<RefreshOutcome, StoreError> {
        let digest = token_digest(token);
        self.run(move |c| {
            let now = crate::session::now_secs() as i64;
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let row: Option<RefreshRow> = tx
                .query_row(
                    "SELECT id, user_id, family, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?1",
                    [&digest],
                    |r| {
                        Ok(RefreshRow {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            family: r.get(2)?,
                            expires_at: r.get(3)?,
                            used_at: r.get(4)?,
                            revoked_at: r.get(5)?,
                        })
                    },
                )
                .optional()?;
            let Some(RefreshRow { id, user_id, family, expires_at, used_at, revoked_at }) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            if used_at.is_some() {
                tx.execute(
                    "UPDATE refresh_tokens SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
                    params![now, family],
                )?;
                tx.commit()?;
                return Ok(RefreshOutcome::Reused);
            }
            if revoked_at.is_some() || expires_at <= now {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute("UPDATE refresh_tokens SET used_at = ?1 WHERE id = ?2", params![now, id])?;
            let new_token = new_refresh_token();
            insert_refresh(&tx, user_id, &family, &new_token, ttl_secs)?;
            let user = user_by_id(&tx, user_id)?;
            tx.commit()?;
            Ok(RefreshOutcome::Rotated { user: Box::new(user), new_token })
        })
        .await
    }

    /// Revokes the family `token` belongs to (sign-out of an API client). Unknown tokens are
    /// ignored: signing out twice is not an error.
    pub async fn revoke_refresh_family(&self, token: &str) -> Result<(), StoreError> {
        let digest = token_digest(token);
        self.run(move |c| {
            c.execute(
                "UPDATE refresh_tokens SET revoked_at = ?1
                 WHERE family = (SELECT family FROM refresh_tokens WHERE token_hash = ?2) AND revoked_at IS NULL",
                params![crate::session::now_secs() as i64, digest],
            )?;
            Ok(())
        })
        .await
    }
}

struct RefreshRow {
    id: i64,
    user_id: i64,
    family: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

fn insert_refresh(
    c: &Connection,
    user_id: i64,
    family: &str,
    token: &str,
    ttl_secs: u64,
) -> Result<(), StoreError> {
    let now = crate::session::now_secs() as i64;
    c.execute(
        "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, family, token_digest(token), now, now + ttl_secs as i64],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> AccountStore {
        AccountStore::open(":memory:").expect("in-memory store")
    }

    async fn local(store: &AccountStore, username: &str) -> User {
        store
            .create_local(NewLocalUser {
                username,
                email: "a@example.com",
                name: "A",
                password_hash: "$argon2id$dummy",
                roles: &[],
            })
            .await
            .expect("created")
    }

    #[tokio::test]
    async fn usernames_are_unique_regardless_of_case() {
        let s = store();
        local(&s, "ada").await;
        let dup = s
            .create_local(NewLocalUser {
                username: "ADA",
                email: "b@example.com",
                name: "B",
                password_hash: "x",
                roles: &[],
            })
            .await;
        assert!(matches!(dup, Err(StoreError::Conflict("username_taken"))));
        assert!(s.has_local_accounts().await.expect("query"));
    }

    #[tokio::test]
    async fn provider_users_are_keyed_by_issuer_and_subject_not_email() {
        let s = store();
        let first = s
            .upsert_oidc(OidcSignIn {
                issuer: "https://idp",
                subject: "1",
                email: Some("x@example.com"),
                email_verified: true,
                name: Some("X"),
                make_admin: false,
            })
            .await
            .expect("first");
        let again = s
            .upsert_oidc(OidcSignIn {
                issuer: "https://idp",
                subject: "1",
                email: Some("new@example.com"),
                email_verified: true,
                name: Some("X"),
                make_admin: true,
            })
            .await
            .expect("again");
        assert_eq!(first.id, again.id);
        assert_eq!(again.email.as_deref(), Some("new@example.com"));
        assert_eq!(again.roles, ["admin"]);
        let other = s
            .upsert_oidc(OidcSignIn {
                issuer: "https://other",
                subject: "1",
                email: Some("new@example.com"),
                email_verified: true,
                name: None,
                make_admin: false,
            })
            .await
            .expect("other");
        assert_ne!(other.id, first.id);
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
        let s = store();
        let user = local(&s, "ada").await;
        let first = s.issue_refresh_token(user.id, 3600).await.expect("issue");
        let RefreshOutcome::Rotated {
            new_token: second, ..
        } = s.rotate_refresh_token(&first, 3600).await.expect("rotate")
        else {
            panic!("first use rotates");
        };
        assert_eq!(
            s.rotate_refresh_token(&first, 3600).await.expect("reuse"),
            RefreshOutcome::Reused
        );
        assert_eq!(
            s.rotate_refresh_token(&second, 3600)
                .await
                .expect("after reuse"),
            RefreshOutcome::Invalid,
            "the successor died with its family"
        );
        assert_eq!(
            s.rotate_refresh_token("made-up", 3600)
                .await
                .expect("unknown"),
            RefreshOutcome::Invalid
        );
    }

    #[tokio::test]
    async fn deleting_a_user_takes_their_refresh_tokens() {
        let s = store();
        let user = local(&s, "ada").await;
        let token = s.issue_refresh_token(user.id, 3600).await.expect("issue");
        s.delete_user(user.id).await.expect("delete");
        assert_eq!(
            s.rotate_refresh_token(&token, 3600).await.expect("rotate"),
            RefreshOutcome::Invalid
        );
        assert!(matches!(
            s.delete_user(user.id).await,
            Err(StoreError::NotFound)
        ));
    }
}
