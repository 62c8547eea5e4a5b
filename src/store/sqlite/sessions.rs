//! Sessions and revocations in SQLite. A session's refresh tokens carry its id (`sid`), so a
//! revocation of the session ends them in the same write.

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::{Revocation, StoreError};
use super::{SqliteStore, secs};

/// Records revocations and ends the refresh tokens of those that are sessions.
pub(super) fn record_revocations(
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
            "UPDATE refresh_tokens SET revoked_at = ?1 WHERE sid = ?2 AND revoked_at IS NULL",
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

impl SqliteStore {
    pub async fn create_session(
        &self,
        sid: &str,
        user_id: i64,
        now: u64,
        expires_at: u64,
        groups: Option<&str>,
    ) -> Result<(), StoreError> {
        let sid = sid.to_owned();
        let groups = groups.map(str::to_owned);
        self.run(move |c| {
            c.execute(
                "INSERT INTO sessions (sid, user_id, created_at, expires_at, groups)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![sid, user_id, secs(now), secs(expires_at), groups],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn session_groups(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let sid = sid.to_owned();
        self.run(move |c| {
            let groups: Option<Option<String>> = c
                .query_row(
                    "SELECT groups FROM sessions WHERE sid = ?1",
                    params![sid],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(groups.flatten())
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
