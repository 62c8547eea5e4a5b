//! Rechecking a session at the provider (`OIDC_REFRESH`): a renewal at least
//! `OIDC_RECHECK_MINUTES` after the last check first redeems the session's refresh token at
//! the provider (through [`ProviderCheck`], which the `oidc` room implements and the
//! composition root hands in). What the provider says then decides:
//!
//! - it answers: the renewed token carries its current email, name, groups and roles;
//! - it refuses (`invalid_grant`: account disabled, consent revoked, session ended there, or
//!   the person no longer passes the access lists): the session ends everywhere, now;
//! - it cannot be reached: the session keeps its current token, without renewal, so it ends
//!   within half a lifetime unless a later request's recheck succeeds; with
//!   `OIDC_RECHECK_STRICT` it ends at once.
//!
//! The store hands the recheck to one instance at a time (`claim_provider_refresh`, a lease of
//! `LEASE_SECS`, longer than a recheck may take), so a rotating refresh token is redeemed once
//! however many instances and requests renew the session together; the others renew without a
//! check, and only the holder's result is recorded. The recheck runs in a task of its own, so a
//! request that goes away (a browser that stops, a proxy's timeout) cannot lose a refresh token
//! the provider just rotated; the request waits for it at most `RECHECK_WAIT`. A provider that
//! could not be asked is asked again `RETRY_SECS` later, not at every request.

use std::future::Future;
use std::pin::Pin;

use super::{Claims, Sessions};

/// How long one instance's claim on a recheck keeps the others from starting one: longer than
/// a recheck can take (a few provider calls of at most `OIDC_HTTP_TIMEOUT_SECS`, 120 s, each).
const LEASE_SECS: u64 = 600;
/// How long a request waits for its recheck; past it, it goes on without a renewal and the
/// recheck finishes on its own.
const RECHECK_WAIT: std::time::Duration = std::time::Duration::from_secs(20);
/// After a provider that could not be asked, how long until a recheck is tried again.
const RETRY_SECS: u64 = 30;

/// The person as the provider describes them now.
#[derive(Clone, Debug, Default)]
pub struct ProviderView {
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// doorman's roles: the store's, and those the groups grant (`ROLE_FROM_GROUPS`).
    pub roles: Vec<String>,
}

/// What the provider said about a session.
#[derive(Debug)]
pub enum Recheck {
    /// It refreshed, and here is the person now.
    Updated(ProviderView),
    /// It will not renew this session; the reason, for the log.
    Ended(&'static str),
    /// It could not be asked; what went wrong, for the log.
    Unavailable(String),
}

/// A recheck's outcome and the refresh token to keep from now on (a provider that rotates
/// them sends a new one).
pub struct Rechecked {
    pub outcome: Recheck,
    pub refresh_token: Option<String>,
}

/// Asks the provider about the session `claims` describe, with its `refresh_token`.
pub trait ProviderCheck: Send + Sync {
    fn recheck<'a>(
        &'a self,
        claims: &'a Claims,
        refresh_token: String,
        now: u64,
    ) -> Pin<Box<dyn Future<Output = Rechecked> + Send + 'a>>;
}

/// What a renewal does after the recheck.
pub(super) enum Verdict {
    /// Renew, with the provider's view when it was asked.
    Renew(Option<ProviderView>),
    /// Do not renew now (the provider could not be asked); the token runs on.
    Skip,
    /// The session ended.
    End,
}

impl Sessions {
    /// Rechecks the session of `claims` at the provider when it is due (see the module).
    pub(super) async fn recheck(&self, claims: &Claims, now: u64) -> Verdict {
        let (Some(config), Some(checker), Some(sid)) =
            (self.recheck, self.provider_check.get(), claims.sid())
        else {
            return Verdict::Renew(None);
        };
        let due_before = now.saturating_sub(config.recheck_secs);
        let sealed = match self
            .store
            .claim_provider_refresh(sid, now, due_before, LEASE_SECS)
            .await
        {
            Ok(Some(sealed)) => sealed,
            Ok(None) => return Verdict::Renew(None),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the session's provider refresh token; renewing later");
                return Verdict::Skip;
            }
        };
        let Some(token) = self.refresh_sealer.open(sid, &sealed) else {
            tracing::warn!(
                "the session's provider refresh token no longer opens (another SESSION_SECRET); not rechecked"
            );
            self.finish_recheck(sid, now, None, Some(now), None).await;
            return Verdict::Renew(None);
        };
        let task = tokio::spawn({
            let (sessions, checker, claims) = (self.clone(), checker.clone(), claims.clone());
            async move {
                sessions
                    .ask_provider(&*checker, &claims, token, now, config.strict)
                    .await
            }
        });
        match tokio::time::timeout(RECHECK_WAIT, task).await {
            Ok(Ok(verdict)) => verdict,
            Ok(Err(_)) | Err(_) => Verdict::Skip,
        }
    }

    /// The recheck itself, claimed at `now`, and what it means for the session.
    async fn ask_provider(
        &self,
        checker: &dyn ProviderCheck,
        claims: &Claims,
        token: String,
        now: u64,
        strict: bool,
    ) -> Verdict {
        let Some(sid) = claims.sid() else {
            return Verdict::Skip;
        };
        let Rechecked {
            outcome,
            refresh_token,
        } = checker.recheck(claims, token, now).await;
        let resealed = refresh_token.map(|t| self.refresh_sealer.seal(sid, &t));
        match outcome {
            Recheck::Updated(view) => {
                self.finish_recheck(sid, now, resealed.as_deref(), Some(now), None)
                    .await;
                Verdict::Renew(Some(view))
            }
            Recheck::Ended(reason) => {
                tracing::info!(
                    event = "session_ended_by_provider",
                    user = claims.sub(),
                    reason,
                    "the provider no longer renews this session; it ends"
                );
                self.end_by_provider(claims).await;
                Verdict::End
            }
            Recheck::Unavailable(detail) => {
                let retry = (now + RETRY_SECS).saturating_sub(LEASE_SECS);
                self.finish_recheck(sid, now, resealed.as_deref(), None, Some(retry))
                    .await;
                if strict {
                    tracing::warn!(%detail, "the provider could not be asked (OIDC_RECHECK_STRICT); the session ends");
                    self.end_by_provider(claims).await;
                    Verdict::End
                } else {
                    tracing::warn!(%detail, "the provider could not be asked; the session runs on without renewal");
                    Verdict::Skip
                }
            }
        }
    }

    async fn finish_recheck(
        &self,
        sid: &str,
        claimed_at: u64,
        sealed: Option<&str>,
        checked: Option<u64>,
        claimed_until: Option<u64>,
    ) {
        if let Err(err) = self
            .store
            .finish_provider_refresh(sid, claimed_at, sealed, checked, claimed_until)
            .await
        {
            tracing::warn!(error = %err, "cannot record a recheck at the provider");
        }
    }

    async fn end_by_provider(&self, claims: &Claims) {
        self.end(claims).await;
        self.metrics.sessions_revoked("provider_recheck", 1);
    }
}
