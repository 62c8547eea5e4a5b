//! Sessions, refresh tokens and revocations in SQLite. Refresh tokens are stored as SHA-256
//! digests only; a session's refresh tokens form its family, and reuse of a spent one revokes it.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::super::{RefreshOutcome, Revocation, StoreError};
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
        "INSERT INTO refresh_tokens (user_id, family, token_hash, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![user_id, sid, token_digest(token), secs(now), secs(now + ttl_secs)],
    )?;
    // An API session lives as long as its newest refresh token.
    c.execute(
        "UPDATE sessions SET expires_at = max(expires_at, ?1) WHERE sid = ?2",
        params![secs(now + ttl_secs), sid],
    )?;
    Ok(())
}

/// Records revocations and ends the refresh-token families of those that are sessions.
fn record_revocations(
    tx: &Transaction<'_>,
    revocations: &[Revocation],
    now: u64,
) -> Result<(), StoreError> {
    for r in revocations {
        tx.execute(
            "INSERT INTO revocations (id, expires_at, revoked_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
            params![r.id, secs(r.expires_at), secs(now)],
        )?;
        tx.execute(
            "UPDATE refresh_tokens SET revoked_at = ?1 WHERE family = ?2 AND revoked_at IS NULL",
            params![secs(now), r.id],
        )?;
    }
    Ok(())
}

/// Revokes every live session of `user_id`; each revocation lasts until the session ends or
/// `revoke_for` seconds pass, whichever is sooner (no access token of it can live longer).
pub(super) fn revoke_user_sessions(
    tx: &Transaction<'_>,
    user_id: i64,
    now: u64,
    revoke_for: u64,
) -> Result<Vec<Revocation>, StoreError> {
    let mut stmt =
        tx.prepare("SELECT sid, expires_at FROM sessions WHERE user_id = ?1 AND expires_at > ?2")?;
    let revocations: Vec<Revocation> = stmt
        .query_map(params![user_id, secs(now)], |r| {
            let expires: i64 = r.get(1)?;
            Ok(Revocation {
                id: r.get(0)?,
                expires_at: u64::try_from(expires).unwrap_or(0).min(now + revoke_for),
            })
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    record_revocations(tx, &revocations, now)?;
    Ok(revocations)
}

struct RefreshRow {
    id: i64,
    user_id: i64,
    family: String,
    expires_at: i64,
    used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl SqliteStore {
    pub async fn create_session(
        &self,
        sid: &str,
        user_id: i64,
        now: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let sid = sid.to_owned();
        self.run(move |c| {
            c.execute(
                "INSERT INTO sessions (sid, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![sid, user_id, secs(now), secs(expires_at)],
            )?;
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
            let Some(row) = row else {
                return Ok(RefreshOutcome::Invalid);
            };
            if row.used_at.is_some() {
                let revocation = Revocation {
                    id: row.family.clone(),
                    expires_at: now + revoke_for,
                };
                record_revocations(tx, &[revocation], now)?;
                return Ok(RefreshOutcome::Reused { sid: row.family });
            }
            if row.revoked_at.is_some() || row.expires_at <= secs(now) {
                return Ok(RefreshOutcome::Invalid);
            }
            tx.execute(
                "UPDATE refresh_tokens SET used_at = ?1 WHERE id = ?2",
                params![secs(now), row.id],
            )?;
            let new_token = crate::random::secret_token();
            insert_refresh(tx, row.user_id, &row.family, &new_token, ttl_secs, now)?;
            let user = user_by_id(tx, row.user_id)?;
            Ok(RefreshOutcome::Rotated {
                user: Box::new(user),
                new_token,
                sid: row.family,
            })
        })
        .await
    }

    pub async fn refresh_token_session(&self, token: &str) -> Result<Option<String>, StoreError> {
        let digest = token_digest(token);
        self.run(move |c| {
            Ok(c.query_row(
                "SELECT family FROM refresh_tokens WHERE token_hash = ?1",
                [&digest],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    pub async fn revoke(&self, revocations: Vec<Revocation>, now: u64) -> Result<(), StoreError> {
        self.write(move |tx| record_revocations(tx, &revocations, now))
            .await
    }

    pub async fn live_revocations(&self, now: u64) -> Result<Vec<Revocation>, StoreError> {
        self.run(move |c| {
            let mut stmt =
                c.prepare("SELECT id, expires_at FROM revocations WHERE expires_at > ?1")?;
            let rows = stmt
                .query_map([secs(now)], |r| {
                    let expires: i64 = r.get(1)?;
                    Ok(Revocation {
                        id: r.get(0)?,
                        expires_at: u64::try_from(expires).unwrap_or(0),
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
