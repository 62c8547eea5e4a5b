//! The SQLite backend: one connection behind a mutex, used from blocking threads. Migrations
//! in `migrations/sqlite/` are applied at start, each once, in order.

mod devices;
mod ephemeral;
mod sessions;
mod tokens;
mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};

use super::StoreError;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/sqlite/0001_accounts.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/sqlite/0002_sessions.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/sqlite/0003_refresh_token_sid.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/sqlite/0004_session_groups.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/sqlite/0005_provider_sessions.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/sqlite/0006_provider_refresh.sql"),
    ),
    (
        7,
        include_str!("../../../migrations/sqlite/0007_device_grants.sql"),
    ),
];

/// How long a write waits for another writer before the store reports itself unavailable.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

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

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

/// `DATABASE_URL` forms: a path (`doorman.db`), `sqlite://path`, `sqlite:path`, or a SQLite
/// URI (`file:doorman.db?mode=ro`).
fn open_connection(url: &str) -> Result<Connection, StoreError> {
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

fn migrate(conn: &mut Connection, now: u64) -> Result<(), StoreError> {
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
            params![version, secs(now)],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}

/// Seconds as SQLite stores them.
fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

impl SqliteStore {
    pub fn open(url: &str, now: u64) -> Result<Self, StoreError> {
        let mut conn = open_connection(url)?;
        // WAL lets readers continue during a write; a read-only store keeps its mode.
        let _ = conn.pragma_update(None, "journal_mode", "WAL");
        migrate(&mut conn, now)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Whether the database answers a query.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.run(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    /// Moves the write-ahead log into the database file, so a stopped doorman leaves one
    /// complete file behind.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        self.run(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .optional()?;
            Ok(())
        })
        .await
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

    /// Runs `work` in a write transaction (taken at once, so concurrent writers queue rather
    /// than fail halfway) and commits it.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let value = work(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_a_reopened_store_keeps_its_data() {
        let dir = std::env::temp_dir().join(format!("doorman-store-{}", crate::random::token_id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("a.db");
        let url = path.to_string_lossy().into_owned();
        drop(SqliteStore::open(&url, 1).expect("first open"));
        let store = SqliteStore::open(&url, 2).expect("second open");
        let count: i64 = store
            .conn
            .lock()
            .expect("lock")
            .query_row("SELECT count(*) FROM schema_migrations", [], |r| r.get(0))
            .expect("count");
        assert_eq!(count, MIGRATIONS.len() as i64);
        let _ = std::fs::remove_dir_all(dir);
    }
}
