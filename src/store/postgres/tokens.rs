//! Sessions, refresh tokens and revocations in PostgreSQL. A revocation is written and
//! announced (`NOTIFY doorman_revocations`) in the same transaction, so every instance hears
//! of it once it is committed, never before. Rotating a refresh token locks its row: of two
//! instances presenting the same token at once, one rotates it and the other sees it spent.

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};

use super::super::{RefreshOutcome, Revocation, StoreError};
use super::users::user_by_id;
use super::{PgStore, bounded, secs, unsigned};

/// The channel every instance listens on; the payload is `<id> <expires_at>`.
pub(super) const CHANNEL: &str = "doorman_revocations";

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

async fn insert_refresh(
    c: &impl GenericClient,
    user_id: i64,
    sid: &str,
    token: &str,
    ttl_secs: u64,
    now: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &user_id,
            &sid,
            &token_digest(token),
            &secs(now),
            &secs(now + ttl_secs),
        ],
    )
    .await?;
    // An API session lives as long as its newest refresh token.
    c.execute(
        "UPDATE sessions SET expires_at = greatest(expires_at, $1) WHERE sid = $2",
        &[&secs(now + ttl_secs), &sid],
    )
    .await?;
    Ok(())
}

/// Records revocations, ends the refresh-token families of those that are sessions, and
/// announces each one (delivered to listeners at commit).
pub(super) async fn record_revocations(
    c: &impl GenericClient,
    revocations: &[Revocation],
    now: u64,
) -> Result<(), StoreError> {
    for r in revocations {
        c.execute(
            "INSERT INTO revocations (id, expires_at, revoked_at) VALUES ($1, $2, $3)
             ON CONFLICT (id) DO UPDATE SET expires_at = greatest(revocations.expires_at, excluded.expires_at),
                 changed_at = now()",
            &[&r.id, &secs(r.expires_at), &secs(now)],
        )
        .await?;
        c.execute(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE family = $2 AND revoked_at IS NULL",
            &[&secs(now), &r.id],
        )
        .await?;
        c.execute(
            "SELECT pg_notify($1, $2)",
            &[&CHANNEL, &format!("{} {}", r.id, r.expires_at)],
        )
        .await?;
    }
    Ok(())
}

/// Revokes every live session of `user_id` (see the SQLite backend for the lifetimes).
pub(super) async fn revoke_user_sessions(
    c: &impl GenericClient,
    user_id: i64,
    now: u64,
    revoke_for: u64,
) -> Result<Vec<Revocation>, StoreError> {
    let revocations: Vec<Revocation> = c
        .query(
            "SELECT sid, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2",
            &[&user_id, &secs(now)],
        )
        .await?
        .iter()
        .map(|r| Revocation {
            id: r.get(0),
            expires_at: unsigned(r.get(1)).min(now + revoke_for),
        })
        .collect();
    record_revocations(c, &revocations, now).await?;
    Ok(revocations)
}

impl PgStore {
    pub async fn create_session(
        &self,
        sid: &str,
        user_id: i64,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        bounded(async {
            c.execute(
                "INSERT INTO sessions (sid, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&sid, &user_id, &secs(now), &secs(expires_at)],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn issue_refresh_token(
        &self,
        user_id: i64,
        sid: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<String, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            let token = crate::random::secret_token();
            insert_refresh(&tx, user_id, sid, &token, ttl_secs, now).await?;
            tx.commit().await?;
            Ok(token)
        })
        .await
    }

    pub async fn rotate_refresh_token(
        &self,
        token: &str,
        ttl_secs: u64,
        now: u64,
        revoke_for: u64,
    ) -> Result<RefreshOutcome, StoreError> {
        let digest = token_digest(token);
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            // The row lock serialises parallel presentations of the same token.
            let Some(row) = tx
                .query_opt(
                    "SELECT id, user_id, family, expires_at, used_at, revoked_at
                     FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                    &[&digest],
                )
                .await?
            else {
                return Ok(RefreshOutcome::Invalid);
            };
            let (id, user_id, family): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
            let (expires_at, used_at, revoked_at): (i64, Option<i64>, Option<i64>) =
                (row.get(3), row.get(4), row.get(5));
            if used_at.is_some() {
                let revocation = Revocation {
                    id: family.clone(),
                    expires_at: now + revoke_for,
                };
                record_revocations(&tx, &[revocation], now).await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused { sid: family });
            }
            if revoked_at.is_some() || expires_at <= secs(now) {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2",
                &[&secs(now), &id],
            )
            .await?;
            let new_token = crate::random::secret_token();
            insert_refresh(&tx, user_id, &family, &new_token, ttl_secs, now).await?;
            let user = user_by_id(&tx, user_id).await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated {
                user: Box::new(user),
                new_token,
                sid: family,
            })
        })
        .await
    }

    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        let digest = token_digest(token);
        let c = self.client().await?;
        bounded(async {
            Ok(c.query_opt(
                "SELECT family FROM refresh_tokens WHERE token_hash = $1",
                &[&digest],
            )
            .await?
            .map(|r| r.get(0)))
        })
        .await
    }

    pub async fn revoke(&self, revocations: Vec<Revocation>, now: u64) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            record_revocations(&tx, &revocations, now).await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    pub async fn live_revocations(&self, now: u64) -> Result<Vec<Revocation>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            Ok(c.query(
                "SELECT id, expires_at FROM revocations WHERE expires_at > $1",
                &[&secs(now)],
            )
            .await?
            .iter()
            .map(|r| Revocation {
                id: r.get(0),
                expires_at: unsigned(r.get(1)),
            })
            .collect())
        })
        .await
    }
}
