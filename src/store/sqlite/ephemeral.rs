//! Short-lived shared facts in SQLite: one-time values already used, throttle counters, and
//! the purge that keeps every table bounded.

use rusqlite::{OptionalExtension, params};

use super::super::{Counter, Purged, StoreError};
use super::{SqliteStore, secs};

/// Records the first use of `digest` until `expires_at`: `true` the first time.
pub(super) fn claim(
    tx: &rusqlite::Transaction<'_>,
    digest: [u8; 32],
    expires_at: u64,
) -> Result<bool, StoreError> {
    let inserted = tx.execute(
        "INSERT INTO used_states (state_hash, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![digest.as_slice(), secs(expires_at)],
    )?;
    Ok(inserted == 1)
}

impl SqliteStore {
    pub async fn claim_once(&self, digest: [u8; 32], expires_at: u64) -> Result<bool, StoreError> {
        self.write(move |tx| claim(tx, digest, expires_at)).await
    }

    pub async fn update_counters<R, F>(&self, keys: Vec<String>, update: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut [Counter]) -> R + Send + 'static,
    {
        self.write(move |tx| {
            let mut counters = Vec::with_capacity(keys.len());
            for key in keys {
                let row: Option<(i64, i64)> = tx
                    .query_row(
                        "SELECT count, last_at FROM throttle WHERE key = ?1",
                        [&key],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let (count, last) = row.unwrap_or((0, 0));
                counters.push(Counter {
                    key,
                    count: u32::try_from(count).unwrap_or(0),
                    last: u64::try_from(last).unwrap_or(0),
                });
            }
            let result = update(&mut counters);
            for c in &counters {
                if c.count == 0 {
                    tx.execute("DELETE FROM throttle WHERE key = ?1", [&c.key])?;
                } else {
                    tx.execute(
                        "INSERT INTO throttle (key, count, last_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (key) DO UPDATE SET count = excluded.count, last_at = excluded.last_at",
                        params![c.key, c.count, secs(c.last)],
                    )?;
                }
            }
            Ok(result)
        })
        .await
    }

    pub async fn purge(&self, now: u64, counters_before: u64) -> Result<Purged, StoreError> {
        self.write(move |tx| {
            let now = secs(now);
            Ok(Purged {
                revocations: tx.execute("DELETE FROM revocations WHERE expires_at <= ?1", [now])?,
                refresh_tokens: tx
                    .execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [now])?,
                sessions: tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [now])?,
                used_states: tx.execute("DELETE FROM used_states WHERE expires_at <= ?1", [now])?,
                counters: tx.execute(
                    "DELETE FROM throttle WHERE last_at < ?1",
                    [secs(counters_before)],
                )?,
                // Kept 10 minutes past expiry: a late poll still learns `expired_token`.
                device_grants: tx.execute(
                    "DELETE FROM device_grants WHERE expires_at <= ?1",
                    [now - 600],
                )?,
            })
        })
        .await
    }
}
