//! API clients' tokens. A password sign-in starts a session with an access token and a
//! refresh token; a refresh spends the refresh token for a new pair in the same session, and a
//! spent one presented again ends that session (someone is replaying it); a sign-out may name
//! a refresh token, whose session then ends too.

use super::{GroupRoles, REFRESH_TOKEN_TTL_SECS, identity_of, with_groups};
use crate::session::{Minted, SessionError, Sessions};
use crate::store::{RefreshOutcome, Revocation, Store, StoreError, User};

/// An access token and the refresh token that continues its session.
pub struct TokenPair {
    pub access: Minted,
    pub refresh_token: String,
}

/// What presenting a refresh token gave.
pub enum Refreshed {
    Pair(Box<TokenPair>),
    /// Unknown, expired or revoked.
    Invalid,
    /// Already spent: its session is now ended, here at once and in the store.
    Reused,
}

/// Starts an API session for `user`, who just proved their password: its first access and
/// refresh tokens. `issuer` is doorman's own (local accounts are their own provider). The
/// session lasts as long as its newest refresh token.
pub async fn start_api_session(
    store: &Store,
    sessions: &Sessions,
    user: &User,
    issuer: &str,
    now: u64,
) -> Result<TokenPair, SessionError> {
    let identity = identity_of(user, issuer);
    let access = sessions
        .start(&identity, Some(now + REFRESH_TOKEN_TTL_SECS))
        .await?;
    let sid = access.claims.sid.clone().unwrap_or_default();
    let refresh_token = store
        .issue_refresh_token(user.id, &sid, REFRESH_TOKEN_TTL_SECS, now)
        .await?;
    Ok(TokenPair {
        access,
        refresh_token,
    })
}

/// Spends `token` for a new pair of the same session, at `now`.
pub async fn refresh_api_session(
    store: &Store,
    sessions: &Sessions,
    token: &str,
    issuer: &str,
    roles: &dyn GroupRoles,
    now: u64,
) -> Result<Refreshed, SessionError> {
    let revoke_for = sessions.revocation_lifetime();
    let outcome = store
        .rotate_refresh_token(token, REFRESH_TOKEN_TTL_SECS, now, revoke_for)
        .await?;
    Ok(match outcome {
        RefreshOutcome::Rotated {
            user,
            new_token,
            sid,
        } => {
            // A session approved for a provider's account (the device grant) keeps the
            // groups it was approved with.
            let mut identity = identity_of(&user, issuer);
            if let Some(json) = store.session_groups(&sid).await? {
                with_groups(
                    &mut identity,
                    serde_json::from_str(&json).unwrap_or_default(),
                    roles,
                );
            }
            Refreshed::Pair(Box::new(TokenPair {
                access: sessions.continue_session(&identity, sid)?,
                refresh_token: new_token,
            }))
        }
        RefreshOutcome::Invalid => Refreshed::Invalid,
        RefreshOutcome::Reused { sid } => {
            // The store revoked it; this instance refuses its tokens at once too.
            sessions.apply(&[Revocation {
                id: sid,
                expires_at: now + revoke_for,
            }]);
            Refreshed::Reused
        }
    })
}

/// Ends the session refresh token `token` belongs to, if doorman knows the token.
pub async fn end_session_of_refresh_token(
    store: &Store,
    sessions: &Sessions,
    token: &str,
    now: u64,
) -> Result<(), StoreError> {
    if let Some(sid) = store.refresh_token_session(token).await? {
        let expires_at = now + sessions.revocation_lifetime();
        sessions
            .revoke(vec![Revocation {
                id: sid,
                expires_at,
            }])
            .await;
    }
    Ok(())
}
