//! Refresh tokens in SQLite, stored as SHA-256 digests only. Each names its session (`sid`):
//! a rotation keeps it, and reuse of a spent token revokes that session.

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use super::super::{RefreshOutcome, Revocation, StoreError};
use super::sessions::record_revocations;
use super::users::user_by_id;
use super::{SqliteStore, secs};

fn token_digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn insert_refresh(
    c: &Connection,
    user_id: i64,
    sid: &str,
    token: &str,
    ttl_secs: u64,
    now: u64,
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO refresh_tokens (user_id, sid, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, sid, token_digest(token), secs(now), secs(now + ttl_secs)],
    )?;
    // An API session lives as long as its newest refresh token.
    c.execute(
        "UPDATE sessions SET expires_at = max(expires_at, ?1) WHERE sid = ?2",
        params![secs(now + ttl_secs), sid],
    )?;
    Ok(())
}

struct RefreshRow {
    id: i64,
    user_id: i64,
    sid: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl SqliteStore {
    pub async fn issue_refresh_token(
        &self,
        user_id: i64,
        sid: &str,
        ttl_secs: u64,
        now: u64,
    ) -> Result<String, StoreError> {
        let sid = sid.to_owned();
        self.write(move |tx| {
            let token = crate::random::secret_token();
            insert_refresh(tx, user_id, &sid, &token, ttl_secs, now)?;
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
        self.write(move |tx| {
            let row: Option<RefreshRow> = tx
                .query_row(
                    "SELECT id, user_id, sid, expires_at, used_at, revoked_at FROM refresh_tokens WHERE token_hash = ?1",
                    [&digest],
                    |r| {
                        Ok(RefreshRow {
                            id: r.get(0)?,
                            user_id: r.get(1)?,
                            sid: r.get(2)?,
                            expires_at: r.get(3)?,
                            used_at: r.get(4)?,
                            revoked_at: r.get(5)?,
                        })
                    },
                )
                .optional()?;
            let Some(row) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            if row.used_at.is_some() {
                let revocation = Revocation {
                    id: row.sid.clone(),
                    expires_at: now + revoke_for,
                };
                record_revocations(tx, &[revocation], now)?;
                return Ok(RefreshOutcome::Reused { sid: row.sid });
            }
            if row.revoked_at.is_some() || row.expires_at <= secs(now) {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?1 WHERE id = ?2",
                params![secs(now), row.id],
            )?;
            let new_token = crate::random::secret_token();
            insert_refresh(tx, row.user_id, &row.sid, &new_token, ttl_secs, now)?;
            let user = user_by_id(tx, row.user_id)?;
            Ok(RefreshOutcome::Rotated {
                user: Box::new(user),
                new_token,
                sid: row.sid,
            })
        })
        .await
    }

    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        let digest = token_digest(token);
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT sid FROM refresh_tokens WHERE token_hash = ?1",
                [&digest],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }
}
