//! One-time values and throttle counters in PostgreSQL, shared by every instance: a `state`
//! is claimed by one atomic insert, and the throttle's counters are read, changed and written
//! under row locks taken in key order (rows are created first, so even a brand-new key is
//! locked and a parallel burst cannot slip past the free attempts).

use super::super::{Counter, Purged, StoreError};
use super::{PgStore, bounded, secs, unsigned};

/// Records the first use of `digest` until `expires_at`: `true` the first time.
pub(super) async fn claim(
    c: &impl deadpool_postgres::GenericClient,
    digest: [u8; 32],
    expires_at: u64,
) -> Result<bool, StoreError> {
    let inserted = c
        .execute(
            "INSERT INTO used_states (state_hash, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&digest.as_slice(), &secs(expires_at)],
        )
        .await?;
    Ok(inserted == 1)
}

impl PgStore {
    pub async fn claim_once(&self, digest: [u8; 32], expires_at: u64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        bounded(claim(&c, digest, expires_at)).await
    }

    pub async fn update_counters<R, F>(&self, keys: Vec<String>, update: F) -> Result<R, StoreError>
    where
        R: Send + 'static,
        F: FnOnce(&mut [Counter]) -> R + Send + 'static,
    {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            tx.execute(
                "INSERT INTO throttle (key, count, last_at) SELECT unnest($1::text[]), 0, 0
                 ON CONFLICT DO NOTHING",
                &[&sorted],
            )
            .await?;
            let rows = tx
                .query(
                    "SELECT key, count, last_at FROM throttle WHERE key = ANY($1) ORDER BY key FOR UPDATE",
                    &[&sorted],
                )
                .await?;
            let mut counters: Vec<Counter> = keys
                .into_iter()
                .map(|key| {
                    let row = rows.iter().find(|r| r.get::<_, &str>(0) == key);
                    Counter {
                        count: row.map_or(0, |r| u32::try_from(r.get::<_, i32>(1)).unwrap_or(0)),
                        last: row.map_or(0, |r| unsigned(r.get(2))),
                        key,
                    }
                })
                .collect();
            let result = update(&mut counters);
            for counter in &counters {
                if counter.count == 0 {
                    tx.execute("DELETE FROM throttle WHERE key = $1", &[&counter.key])
                        .await?;
                } else {
                    tx.execute(
                        "UPDATE throttle SET count = $2, last_at = $3 WHERE key = $1",
                        &[
                            &counter.key,
                            &i32::try_from(counter.count).unwrap_or(i32::MAX),
                            &secs(counter.last),
                        ],
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            Ok(result)
        })
        .await
    }

    pub async fn purge(&self, now: u64, counters_before: u64) -> Result<Purged, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let now = secs(now);
            let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
            Ok(Purged {
                // Kept 5 minutes past expiry: an instance whose clock lags still finds them.
                revocations: count(
                    c.execute(
                        "DELETE FROM revocations WHERE expires_at <= $1",
                        &[&(now - 300)],
                    )
                    .await?,
                ),
                refresh_tokens: count(
                    c.execute("DELETE FROM refresh_tokens WHERE expires_at <= $1", &[&now])
                        .await?,
                ),
                sessions: count(
                    c.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&now])
                        .await?,
                ),
                used_states: count(
                    c.execute("DELETE FROM used_states WHERE expires_at <= $1", &[&now])
                        .await?,
                ),
                counters: count(
                    c.execute(
                        "DELETE FROM throttle WHERE last_at < $1",
                        &[&secs(counters_before)],
                    )
                    .await?,
                ),
                device_grants: count(
                    // Kept 10 minutes past expiry: a late poll still learns `expired_token`.
                    c.execute(
                        "DELETE FROM device_grants WHERE expires_at <= $1",
                        &[&(now - 600)],
                    )
                    .await?,
                ),
            })
        })
        .await
    }
}
