//! The PostgreSQL backend, for several doorman instances on one shared store: a pool of
//! connections (deadpool), TLS with rustls unless the database is local (the rule is
//! `config::postgres_url`'s: no plaintext fallback, ever), migrations applied once
//! under an advisory lock however many instances start together, and every operation bounded
//! by a timeout, so a store that is down or stuck gives a clear 503, never a hang. The
//! revocation feed (LISTEN/NOTIFY plus a cursor on the database clock) is in `feed`.

mod devices;
mod ephemeral;
mod feed;
mod sessions;
mod tokens;
mod users;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::StoreError;
use crate::config::{DatabaseTls, PostgresUrl, postgres_url};

pub use feed::RevocationFeed;

const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        include_str!("../../../migrations/postgres/0001_schema.sql"),
    ),
    (
        2,
        include_str!("../../../migrations/postgres/0002_refresh_token_sid.sql"),
    ),
    (
        3,
        include_str!("../../../migrations/postgres/0003_session_groups.sql"),
    ),
    (
        4,
        include_str!("../../../migrations/postgres/0004_provider_sessions.sql"),
    ),
    (
        5,
        include_str!("../../../migrations/postgres/0005_provider_refresh.sql"),
    ),
    (
        6,
        include_str!("../../../migrations/postgres/0006_device_grants.sql"),
    ),
];

/// Taken while migrating, so instances that start together migrate one after the other.
const MIGRATION_LOCK: i64 = 0x646f_6f72_6d61_6e01;
/// The longest any one store operation may take before it counts as unavailable.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for a connection (from the pool, or a new one).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

impl From<tokio_postgres::Error> for StoreError {
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            // No SQLSTATE: the connection broke or could not be made.
            return StoreError::Unavailable(with_causes(&err));
        };
        let code = db.code().code();
        match code {
            "23505" => StoreError::Conflict("already exists"),
            // Connection exceptions, insufficient resources, operator intervention (shutdown),
            // a read-only standby, lock and statement timeouts.
            c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
                StoreError::Unavailable(db.message().to_owned())
            }
            "25006" | "55P03" => StoreError::Unavailable(db.message().to_owned()),
            _ => StoreError::Internal(format!("{code}: {}", db.message())),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        StoreError::Unavailable(with_causes(&err))
    }
}

/// `err` and what caused it, so "error performing TLS handshake" says why ("server does not
/// support TLS").
fn with_causes(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(next) = cause {
        let next_text = next.to_string();
        if !text.ends_with(&next_text) {
            text.push_str(": ");
            text.push_str(&next_text);
        }
        cause = next.source();
    }
    text
}

/// Connection settings beyond the URL.
#[derive(Clone, Debug)]
pub struct PgSettings {
    pub pool_size: usize,
    /// A PEM file of CA certificates to trust for TLS, instead of the Mozilla roots.
    pub ca_file: Option<String>,
    /// `application_name`, so each instance's connections can be told apart.
    pub application_name: String,
}

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    migrated: Arc<AtomicBool>,
    description: String,
    mode: DatabaseTls,
}

fn tls(ca_file: Option<&str>) -> Result<MakeRustlsConnect, StoreError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| StoreError::Internal(format!("DATABASE_CA_FILE `{path}`: {e}")))?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| StoreError::Internal(format!("DATABASE_CA_FILE `{path}`: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| StoreError::Internal(format!("DATABASE_CA_FILE `{path}`: {e}")))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| StoreError::Internal(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

impl PgStore {
    /// The pool for `url` (`postgres://` or `postgresql://`). Makes no connection yet: a
    /// store that is down when doorman starts is not an error here.
    pub fn connect(url: &str, settings: &PgSettings) -> Result<Self, StoreError> {
        let PostgresUrl {
            mut config,
            tls: mode,
        } = postgres_url(url).map_err(|e| StoreError::Internal(format!("DATABASE_URL: {e}")))?;
        if mode == DatabaseTls::DisabledOnLoopback {
            tracing::warn!(
                "DATABASE_URL has sslmode=disable: the connection to PostgreSQL (on this \
                 machine) is not encrypted, password included"
            );
        }
        config
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30))
            .application_name(&settings.application_name);
        let description = format!("{}, {}", describe(&config), mode.describe());
        let tls = tls(settings.ca_file.as_deref())?;
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(Self {
            pool,
            config,
            tls,
            migrated: Arc::new(AtomicBool::new(false)),
            description,
            mode,
        })
    }

    /// `host/dbname` as user, and the TLS mode, for logs: never the password.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// How the connections are protected (`doorman check` prints it).
    pub fn tls_mode(&self) -> DatabaseTls {
        self.mode
    }

    pub fn is_migrated(&self) -> bool {
        self.migrated.load(Ordering::Acquire)
    }

    /// Applies the migrations not yet applied, each once, under the advisory lock.
    pub async fn migrate(&self, now: u64) -> Result<(), StoreError> {
        if self.is_migrated() {
            return Ok(());
        }
        let mut client = self.raw_client().await?;
        bounded(async {
            client
                .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            let outcome = apply(&mut client, now).await;
            let _ = client
                .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
                .await;
            outcome
        })
        .await?;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    async fn raw_client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// A pooled connection, once the schema is in place.
    async fn client(&self) -> Result<Object, StoreError> {
        if !self.is_migrated() {
            return Err(StoreError::Unavailable(
                "the store has not been reached yet (migrations pending)".into(),
            ));
        }
        self.raw_client().await
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let client = self.raw_client().await?;
        bounded(async {
            client.simple_query("SELECT 1").await?;
            Ok(())
        })
        .await
    }

    /// Nothing to write out: every commit is durable when it returns.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

async fn apply(client: &mut Object, now: u64) -> Result<(), StoreError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )
        .await?;
    for (version, sql) in MIGRATIONS {
        let applied = client
            .query_opt(
                "SELECT 1 FROM schema_migrations WHERE version = $1",
                &[version],
            )
            .await?
            .is_some();
        if applied {
            continue;
        }
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[version, &secs(now)],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "applied database migration (postgres)");
    }
    Ok(())
}

/// `operation`, or `Unavailable` once it has taken `OPERATION_TIMEOUT`.
async fn bounded<T>(
    operation: impl std::future::Future<Output = Result<T, StoreError>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(OPERATION_TIMEOUT, operation)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unavailable(format!(
                "the store did not answer within {} s",
                OPERATION_TIMEOUT.as_secs()
            )))
        })
}

fn describe(config: &tokio_postgres::Config) -> String {
    let host = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect::<Vec<_>>()
        .join(",");
    format!(
        "postgres {}@{}/{}",
        config.get_user().unwrap_or("?"),
        host,
        config.get_dbname().unwrap_or("?")
    )
}

/// Seconds as PostgreSQL stores them.
fn secs(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

fn unsigned(t: i64) -> u64 {
    u64::try_from(t).unwrap_or(0)
}
