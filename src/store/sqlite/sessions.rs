//! Sessions and revocations in SQLite. A session's refresh tokens carry its id (`sid`), so a
//! revocation of the session ends them in the same write.

use rusqlite::{OptionalExtension, Transaction, params};

use super::super::{NewSession, ProviderLogout, Revocation, StoreError};
use super::ephemeral::claim;
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
        tx.execute(
            "UPDATE sessions SET provider_refresh = NULL, id_token_hint = NULL WHERE sid = ?1",
            params![r.id],
        )?;
    }
    Ok(())
}

/// Revokes every live session of `user_id`; each revocation lasts `revoke_for` seconds, the
/// longest any token minted by now can live (not capped at the session's recorded end: a
/// renewal extending it in another transaction may not be visible yet).
pub(super) fn revoke_user_sessions(
    tx: &Transaction<'_>,
    user_id: i64,
    now: u64,
    revoke_for: u64,
) -> Result<Vec<Revocation>, StoreError> {
    revoke_selected(
        tx,
        "SELECT sid FROM sessions WHERE user_id = ?1 AND expires_at > ?2",
        params![user_id, secs(now)],
        now,
        revoke_for,
    )
}

/// Revokes the sessions `query` selects (their `sid`s), each for `revoke_for` seconds.
fn revoke_selected(
    tx: &Transaction<'_>,
    query: &str,
    args: impl rusqlite::Params,
    now: u64,
    revoke_for: u64,
) -> Result<Vec<Revocation>, StoreError> {
    let mut stmt = tx.prepare(query)?;
    let revocations: Vec<Revocation> = stmt
        .query_map(args, |r| {
            Ok(Revocation {
                id: r.get(0)?,
                expires_at: now + revoke_for,
            })
        })?
        .collect::<Result<_, _>>()?;
    drop(stmt);
    record_revocations(tx, &revocations, now)?;
    Ok(revocations)
}

/// The session's column that `query` selects (one text, possibly NULL).
fn session_text(
    c: &rusqlite::Connection,
    query: &str,
    sid: &str,
) -> Result<Option<String>, StoreError> {
    let text: Option<Option<String>> = c.query_row(query, params![sid], |r| r.get(0)).optional()?;
    Ok(text.flatten())
}

impl SqliteStore {
    pub async fn create_session(&self, new: NewSession<'_>, now: u64) -> Result<(), StoreError> {
        let row = (
            new.sid.to_owned(),
            new.user_id,
            secs(now),
            secs(new.expires_at),
            new.groups.map(str::to_owned),
            new.provider_sid.map(str::to_owned),
            new.id_token_hint.map(str::to_owned),
            new.provider_refresh.map(str::to_owned),
        );
        self.run(move |c| {
            c.execute(
                "INSERT INTO sessions (sid, user_id, created_at, expires_at, groups, provider_sid,
                   id_token_hint, provider_refresh, checked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?3)",
                params![row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn extend_session(&self, sid: &str, expires_at: u64) -> Result<bool, StoreError> {
        let sid = sid.to_owned();
        self.write(move |tx| {
            let changed = tx.execute(
                "UPDATE sessions SET expires_at = max(expires_at, ?2)
                 WHERE sid = ?1 AND NOT EXISTS (SELECT 1 FROM revocations WHERE id = ?1)",
                params![sid, secs(expires_at)],
            )?;
            Ok(changed == 1)
        })
        .await
    }

    pub async fn claim_provider_refresh(
        &self,
        sid: &str,
        now: u64,
        checked_before: u64,
        lease_secs: u64,
    ) -> Result<Option<String>, StoreError> {
        let sid = sid.to_owned();
        self.write(move |tx| {
            let sealed: Option<String> = tx
                .query_row(
                    "UPDATE sessions SET refresh_claimed_at = ?2
                     WHERE sid = ?1 AND provider_refresh IS NOT NULL
                       AND coalesce(checked_at, 0) <= ?3
                       AND coalesce(refresh_claimed_at, 0) <= ?4
                     RETURNING provider_refresh",
                    params![
                        sid,
                        secs(now),
                        secs(checked_before),
                        secs(now.saturating_sub(lease_secs))
                    ],
                    |r| r.get(0),
                )
                .optional()?;
            Ok(sealed)
        })
        .await
    }

    pub async fn finish_provider_refresh(
        &self,
        sid: &str,
        claimed_at: u64,
        sealed: Option<&str>,
        checked: Option<u64>,
        claimed_until: Option<u64>,
    ) -> Result<(), StoreError> {
        let (sid, sealed) = (sid.to_owned(), sealed.map(str::to_owned));
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET provider_refresh = coalesce(?3, provider_refresh),
                   checked_at = coalesce(?4, checked_at), refresh_claimed_at = ?5
                 WHERE sid = ?1 AND refresh_claimed_at = ?2 AND provider_refresh IS NOT NULL",
                params![
                    sid,
                    secs(claimed_at),
                    sealed,
                    checked.map(secs),
                    claimed_until.map(secs)
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn set_session_groups(&self, sid: &str, groups: &str) -> Result<(), StoreError> {
        let (sid, groups) = (sid.to_owned(), groups.to_owned());
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET groups = ?2 WHERE sid = ?1",
                params![sid, groups],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn session_id_token_hint(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let sid = sid.to_owned();
        self.run(move |c| {
            session_text(c, "SELECT id_token_hint FROM sessions WHERE sid = ?1", &sid)
        })
        .await
    }

    pub async fn provider_logout(
        &self,
        logout: ProviderLogout<'_>,
        now: u64,
        revoke_for: u64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let issuer = logout.issuer.to_owned();
        let subject = logout.subject.map(str::to_owned);
        let provider_sid = logout.provider_sid.map(str::to_owned);
        let digest = logout.jti_digest;
        let jti_expires = logout.jti_expires_at;
        self.write(move |tx| {
            if !claim(tx, digest, jti_expires)? {
                return Ok(None);
            }
            revoke_selected(
                tx,
                "SELECT s.sid FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE u.issuer = ?1 AND s.expires_at > ?2
                   AND (?3 IS NULL OR u.subject = ?3)
                   AND (?4 IS NULL OR s.provider_sid = ?4)",
                params![issuer, secs(now), subject, provider_sid],
                now,
                revoke_for,
            )
            .map(Some)
        })
        .await
    }

    pub async fn session_groups(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let sid = sid.to_owned();
        self.run(move |c| session_text(c, "SELECT groups FROM sessions WHERE sid = ?1", &sid))
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
