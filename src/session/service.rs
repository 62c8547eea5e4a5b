//! Starting and ending sessions: mint a token tied to a new session id (and record the
//! session, so it can be revoked with its user), and revoke one — at once in memory, and in
//! the store, retried until it lands if the store is down.

use std::sync::{Mutex, MutexGuard};

use super::token::IAT_SKEW_SECS;
use super::{Claims, SessionClaims, Sessions};
use crate::identity::Identity;
use crate::random::token_id;
use crate::store::{NewSession, Revocation, StoreError};

/// A new session's token and claims.
pub struct Minted {
    pub token: String,
    pub claims: SessionClaims,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("minting the session token failed")]
    Mint(#[source] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revocations not yet written to the store.
#[derive(Default)]
pub struct Outbox(Mutex<Vec<Revocation>>);

impl Outbox {
    /// The waiting revocations. A panic while the lock was held cannot leave the list half
    /// changed (it is only extended or drained), so a poisoned lock is used as it is.
    fn pending(&self) -> MutexGuard<'_, Vec<Revocation>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a session keeps of the provider's own session, when it came from one.
#[derive(Clone, Debug, Default)]
pub struct ProviderLink {
    /// The ID token's `sid`: a back-channel logout may name it.
    pub sid: Option<String>,
    /// The ID token, sent back as `id_token_hint` at sign-out; kept sealed, never in a cookie.
    pub id_token: Option<String>,
    /// The provider's refresh token (`OIDC_REFRESH`); kept sealed, deleted with the session.
    pub refresh_token: Option<String>,
}

impl Sessions {
    /// Starts a session for `identity`: a new `sid`, recorded in the store (for a known user)
    /// until `lasts_until` (the token's expiry when `None`), and its first token.
    pub async fn start(
        &self,
        identity: &Identity,
        lasts_until: Option<u64>,
    ) -> Result<Minted, SessionError> {
        self.start_linked(identity, lasts_until, ProviderLink::default())
            .await
    }

    /// As [`Self::start`], for a sign-in through the provider: the session also keeps `link`.
    pub async fn start_linked(
        &self,
        identity: &Identity,
        lasts_until: Option<u64>,
        link: ProviderLink,
    ) -> Result<Minted, SessionError> {
        let now = self.clock.now();
        let sid = token_id();
        let claims = self
            .tokens
            .claims_for(identity, now, token_id(), Some(sid.clone()));
        // Groups too many for the token are kept in memory here; every session's groups are
        // kept with it in the store, so that a refresh (an API session's) carries them on.
        let kept_groups = claims.gref.as_ref().map(|_| identity.groups.clone());
        if let Some(uid) = identity.user_id {
            let json = (!identity.groups.is_empty())
                .then(|| serde_json::to_string(&identity.groups))
                .transpose()
                .map_err(SessionError::Mint)?;
            let hint = link.id_token.as_deref().map(|t| self.sealer.seal(&sid, t));
            let refresh = link
                .refresh_token
                .as_deref()
                .filter(|_| self.recheck.is_some())
                .map(|t| self.refresh_sealer.seal(&sid, t));
            let new = NewSession {
                sid: &sid,
                user_id: uid,
                expires_at: lasts_until.unwrap_or(claims.exp),
                groups: json.as_deref(),
                provider_sid: link.sid.as_deref(),
                id_token_hint: hint.as_deref(),
                provider_refresh: refresh.as_deref(),
            };
            self.store.create_session(new, now).await?;
        }
        if let Some(groups) = kept_groups {
            self.groups.put(&sid, groups.into());
        }
        let token = self.tokens.mint(&claims).map_err(SessionError::Mint)?;
        Ok(Minted { token, claims })
    }

    /// The ID token session `sid` was started with, for `id_token_hint`: `None` when it
    /// kept none, or what it kept no longer opens (another `SESSION_SECRET`).
    pub async fn id_token_hint(&self, sid: &str) -> Result<Option<String>, StoreError> {
        let sealed = self.store.session_id_token_hint(sid).await?;
        Ok(sealed.and_then(|sealed| self.sealer.open(sid, &sealed)))
    }

    /// A further token of an existing session (a refresh).
    pub fn continue_session(
        &self,
        identity: &Identity,
        sid: String,
    ) -> Result<Minted, SessionError> {
        let claims = self
            .tokens
            .claims_for(identity, self.clock.now(), token_id(), Some(sid));
        let token = self.tokens.mint(&claims).map_err(SessionError::Mint)?;
        Ok(Minted { token, claims })
    }

    /// How long a revocation made now must last: every token it covers was minted by now,
    /// so none outlives the session lifetime (plus the skew `iat` is allowed).
    pub fn revocation_lifetime(&self) -> u64 {
        self.tokens.ttl_secs() + IAT_SKEW_SECS
    }

    /// Ends the session `claims` belongs to (or, for a token without one, the token): refused
    /// here at once, in the store as soon as it answers. Its refresh tokens die with it.
    pub async fn end(&self, claims: &Claims) {
        let revocation = Revocation {
            id: claims.revocation_id().to_owned(),
            expires_at: self.clock.now() + self.revocation_lifetime(),
        };
        self.revoke(vec![revocation]).await;
    }

    /// Records `revocations` in memory at once and in the store; what the store refuses now
    /// waits in the outbox for `flush`.
    pub async fn revoke(&self, revocations: Vec<Revocation>) {
        let now = self.clock.now();
        self.apply(&revocations);
        if let Err(err) = self.store.revoke(&revocations, now).await {
            tracing::warn!(error = %err, "recording a revocation failed; it is kept and retried");
            self.outbox.pending().extend(revocations);
        }
    }

    /// Refuses `revocations` in memory (they are already in the store).
    pub fn apply(&self, revocations: &[Revocation]) {
        let now = self.clock.now();
        for r in revocations {
            self.revocations.revoke(&r.id, r.expires_at, now);
        }
    }

    /// Writes what the outbox holds; entries that expired meanwhile are dropped.
    pub async fn flush(&self) {
        let now = self.clock.now();
        let pending: Vec<Revocation> = {
            let mut outbox = self.outbox.pending();
            outbox.retain(|r| r.expires_at > now);
            outbox.drain(..).collect()
        };
        if pending.is_empty() {
            return;
        }
        if let Err(err) = self.store.revoke(&pending, now).await {
            tracing::warn!(error = %err, pending = pending.len(), "revocations still wait for the store");
            self.outbox.pending().extend(pending);
        }
    }

    /// Loads every revocation in force from the store; the set is then ready.
    pub async fn load(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let live = self.store.live_revocations(now).await?;
        self.apply(&live);
        self.revocations.mark_synced(now);
        Ok(live.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn a_failed_mint_is_a_500_whose_log_detail_keeps_the_reason() {
        let reason = serde_json::from_str::<u8>("not json").expect_err("a serde error");
        let shown = reason.to_string();
        let err = AppError::from(SessionError::Mint(reason));
        assert_eq!(err.status.as_u16(), 500);
        let detail = err.detail.as_deref().unwrap_or_default();
        assert!(
            detail.starts_with("minting the session token failed: ") && detail.ends_with(&shown),
            "{detail}"
        );
        assert!(!err.message.contains(&shown), "the client never sees it");
    }
}
