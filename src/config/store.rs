//! The store's connection and how the revocation set keeps in step with it:
//! `DATABASE_POOL_SIZE` and `DATABASE_CA_FILE` (PostgreSQL), `REVOCATION_POLL_SECS` (how often
//! every instance reads what changed, repairing any missed notification) and
//! `REVOCATION_MAX_STALENESS_SECS` (opt-in strict mode: refuse rather than trust a set older
//! than this).

use std::time::Duration;

use super::vars::{ConfigError, Vars};

#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// `DATABASE_POOL_SIZE`: PostgreSQL connections per instance (plus one that listens).
    pub pool_size: usize,
    /// `DATABASE_CA_FILE`: CA certificates (PEM) for TLS to PostgreSQL, instead of the
    /// Mozilla roots.
    pub ca_file: Option<String>,
    /// `REVOCATION_POLL_SECS`.
    pub revocation_poll: Duration,
    /// `REVOCATION_MAX_STALENESS_SECS`: unset = serve from the last synced set however old
    /// (a store outage does not stop signed-in users); set = 503 once it is older.
    pub revocation_max_staleness: Option<Duration>,
}

pub(super) fn store_from(vars: &Vars<'_>) -> Result<StoreConfig, ConfigError> {
    let staleness = match vars.get("REVOCATION_MAX_STALENESS_SECS") {
        None => None,
        Some(_) => Some(Duration::from_secs(vars.number(
            "REVOCATION_MAX_STALENESS_SECS",
            30,
            1..=86_400,
        )?)),
    };
    Ok(StoreConfig {
        pool_size: usize::try_from(vars.number("DATABASE_POOL_SIZE", 8, 1..=256)?).unwrap_or(8),
        ca_file: vars.get("DATABASE_CA_FILE"),
        revocation_poll: Duration::from_secs(vars.number("REVOCATION_POLL_SECS", 5, 1..=300)?),
        revocation_max_staleness: staleness,
    })
}
