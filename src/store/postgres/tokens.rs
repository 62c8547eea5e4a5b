//! Refresh tokens in PostgreSQL, stored as SHA-256 digests only; each names its session
//! (`sid`). Rotating a refresh token locks its row: of two instances presenting the same token
//! at once, one rotates it and the other sees it spent (and revokes the session).

use deadpool_postgres::GenericClient;
use sha2::{Digest, Sha256};

use super::super::{RefreshOutcome, Revocation, StoreError};
use super::sessions::record_revocations;
use super::users::user_by_id;
use super::{PgStore, bounded, secs};

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
        "INSERT INTO refresh_tokens (user_id, sid, token_hash, created_at, expires_at)
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

impl PgStore {
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
                    "SELECT id, user_id, sid, expires_at, used_at, revoked_at
                     FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE",
                    &[&digest],
                )
                .await?
            else {
                return Ok(RefreshOutcome::Invalid);
            };
            let (id, user_id, sid): (i64, i64, String) = (row.get(0), row.get(1), row.get(2));
            let (expires_at, used_at, revoked_at): (i64, Option<i64>, Option<i64>) =
                (row.get(3), row.get(4), row.get(5));
            if used_at.is_some() {
                let revocation = Revocation {
                    id: sid.clone(),
                    expires_at: now + revoke_for,
                };
                record_revocations(&tx, &[revocation], now).await?;
                tx.commit().await?;
                return Ok(RefreshOutcome::Reused { sid });
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
            insert_refresh(&tx, user_id, &sid, &new_token, ttl_secs, now).await?;
            let user = user_by_id(&tx, user_id).await?;
            tx.commit().await?;
            Ok(RefreshOutcome::Rotated {
                user: Box::new(user),
                new_token,
                sid,
            })
        })
        .await
    }

    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        let digest = token_digest(token);
        let c = self.client().await?;
        bounded(async {
            Ok(c.query_opt(
                "SELECT sid FROM refresh_tokens WHERE token_hash = $1",
                &[&digest],
            )
            .await?
            .map(|r| r.get(0)))
        })
        .await
    }
}
