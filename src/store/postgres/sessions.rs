//! Sessions and revocations in PostgreSQL. A revocation is written and announced
//! (`NOTIFY doorman_revocations`) in the same transaction, so every instance hears of it once
//! it is committed, never before; the session's refresh tokens (which carry its `sid`) end in
//! the same transaction.

use deadpool_postgres::GenericClient;

use super::super::{NewSession, ProviderLogout, Revocation, StoreError};
use super::ephemeral::claim;
use super::{PgStore, bounded, secs, unsigned};

/// The channel every instance listens on; the payload is `<id> <expires_at>`.
pub(super) const CHANNEL: &str = "doorman_revocations";

/// Records revocations, ends the refresh tokens of those that are sessions, and announces
/// each one (delivered to listeners at commit).
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
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE sid = $2 AND revoked_at IS NULL",
            &[&secs(now), &r.id],
        )
        .await?;
        c.execute(
            "UPDATE sessions SET provider_refresh = NULL, id_token_hint = NULL WHERE sid = $1",
            &[&r.id],
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
    revoke_selected(
        c,
        "SELECT sid FROM sessions WHERE user_id = $1 AND expires_at > $2",
        &[&user_id, &secs(now)],
        now,
        revoke_for,
    )
    .await
}

/// Revokes the sessions `query` selects (their `sid`s), each for `revoke_for` seconds.
async fn revoke_selected(
    c: &impl GenericClient,
    query: &str,
    args: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    now: u64,
    revoke_for: u64,
) -> Result<Vec<Revocation>, StoreError> {
    let revocations: Vec<Revocation> = c
        .query(query, args)
        .await?
        .iter()
        .map(|r| Revocation {
            id: r.get(0),
            expires_at: now + revoke_for,
        })
        .collect();
    record_revocations(c, &revocations, now).await?;
    Ok(revocations)
}

impl PgStore {
    pub async fn create_session(&self, new: NewSession<'_>, now: u64) -> Result<(), StoreError> {
        let c = self.client().await?;
        bounded(async {
            c.execute(
                "INSERT INTO sessions (sid, user_id, created_at, expires_at, groups, provider_sid,
                   id_token_hint, provider_refresh, checked_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $3)",
                &[
                    &new.sid,
                    &new.user_id,
                    &secs(now),
                    &secs(new.expires_at),
                    &new.groups,
                    &new.provider_sid,
                    &new.id_token_hint,
                    &new.provider_refresh,
                ],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn extend_session(&self, sid: &str, expires_at: u64) -> Result<bool, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let changed = c
                .execute(
                    "UPDATE sessions SET expires_at = greatest(expires_at, $2)
                     WHERE sid = $1 AND NOT EXISTS (SELECT 1 FROM revocations WHERE id = $1)",
                    &[&sid, &secs(expires_at)],
                )
                .await?;
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
        let c = self.client().await?;
        bounded(async {
            let row = c
                .query_opt(
                    "UPDATE sessions SET refresh_claimed_at = $2
                     WHERE sid = $1 AND provider_refresh IS NOT NULL
                       AND coalesce(checked_at, 0) <= $3
                       AND coalesce(refresh_claimed_at, 0) <= $4
                     RETURNING provider_refresh",
                    &[
                        &sid,
                        &secs(now),
                        &secs(checked_before),
                        &secs(now.saturating_sub(lease_secs)),
                    ],
                )
                .await?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
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
        let c = self.client().await?;
        let (checked, claimed_until) = (checked.map(secs), claimed_until.map(secs));
        bounded(async {
            c.execute(
                "UPDATE sessions SET provider_refresh = coalesce($3, provider_refresh),
                   checked_at = coalesce($4, checked_at), refresh_claimed_at = $5
                 WHERE sid = $1 AND refresh_claimed_at = $2 AND provider_refresh IS NOT NULL",
                &[&sid, &secs(claimed_at), &sealed, &checked, &claimed_until],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn set_session_groups(&self, sid: &str, groups: &str) -> Result<(), StoreError> {
        let c = self.client().await?;
        bounded(async {
            c.execute(
                "UPDATE sessions SET groups = $2 WHERE sid = $1",
                &[&sid, &groups],
            )
            .await?;
            Ok(())
        })
        .await
    }

    pub async fn session_id_token_hint(&self, sid: &str) -> Result<Option<String>, StoreError> {
        self.session_text("SELECT id_token_hint FROM sessions WHERE sid = $1", sid)
            .await
    }

    /// The session's column that `query` selects (one text, possibly NULL).
    async fn session_text(&self, query: &str, sid: &str) -> Result<Option<String>, StoreError> {
        let c = self.client().await?;
        bounded(async {
            let row = c.query_opt(query, &[&sid]).await?;
            Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
        })
        .await
    }

    pub async fn provider_logout(
        &self,
        logout: ProviderLogout<'_>,
        now: u64,
        revoke_for: u64,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let mut c = self.client().await?;
        bounded(async {
            let tx = c.transaction().await?;
            if !claim(&tx, logout.jti_digest, logout.jti_expires_at).await? {
                return Ok(None);
            }
            let revocations = revoke_selected(
                &tx,
                "SELECT s.sid FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE u.issuer = $1 AND s.expires_at > $2
                   AND ($3::text IS NULL OR u.subject = $3)
                   AND ($4::text IS NULL OR s.provider_sid = $4)",
                &[
                    &logout.issuer,
                    &secs(now),
                    &logout.subject,
                    &logout.provider_sid,
                ],
                now,
                revoke_for,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(revocations))
        })
        .await
    }

    pub async fn session_groups(&self, sid: &str) -> Result<Option<String>, StoreError> {
        self.session_text("SELECT groups FROM sessions WHERE sid = $1", sid)
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
