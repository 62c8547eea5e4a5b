//! The session: the only code that knows the session JWT format (`token`, `jws`), the cookie
//! that carries it (`cookie`), where a request carries it (`credentials`), revoked sessions
//! (`revocation`), starting and ending sessions (`service`), and the extractors that prove who
//! is calling (`extract`).
//!
//! API routes take `ApiUser` (Bearer or cookie, 401 JSON); pages take `PageUser` (the cookie,
//! a redirect to sign in and back); `RequireRole` checks a role in the store.

mod claims;
mod claims_json;
mod cookie;
mod credentials;
mod extract;
mod groups;
mod jws;
#[cfg(test)]
mod props;
mod recheck;
mod renewal;
mod revocation;
mod sealed;
mod service;
mod sync;
mod token;
mod verified;

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};

pub use claims::{Claims, SessionClaims};
pub use claims_json::{GroupsJson, RolesJson};
pub use cookie::{
    COOKIE_NAME, CookieScope, DOMAIN_COOKIE_NAME, HOST_COOKIE_NAME, cookie_name, removal_cookie,
    session_cookie,
};
pub use credentials::{
    Authorization, TokenSource, cookie_pairs, has_several_authorizations, is_bearer,
};
pub use extract::{
    Admin, ApiUser, PageUser, RequireRole, RoleName, SameOrigin, SessionContext, is_same_origin,
};
pub use groups::{GROUPS_IN_TOKEN_BYTES, GroupDirectory, fit_in_token};
pub use recheck::{ProviderCheck, ProviderView, Recheck, Rechecked};
pub use renewal::Renewals;
pub use revocation::{CHANGE_SIGNAL_SECS, RevocationSet, change_id};
pub use sealed::{ID_TOKEN_HINT, PROVIDER_REFRESH_TOKEN, Sealer};
pub use service::{Minted, Outbox, ProviderLink, SessionError};
pub use token::{MAX_TOKEN_BYTES, SessionTokens, TokenError};

use crate::clock::Clock;
use crate::error::AppError;
use crate::error::context as scope;
use crate::store::Store;
use crate::telemetry::{Metrics, TokenCheck};

/// The session service: what minting, verifying and revoking sessions needs.
#[derive(Clone)]
pub struct Sessions {
    pub tokens: Arc<SessionTokens>,
    pub revocations: Arc<RevocationSet>,
    /// Where the session cookie goes (its name, `Secure`, `Domain`).
    pub cookie: CookieScope,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub outbox: Arc<Outbox>,
    pub metrics: Arc<Metrics>,
    /// `REVOCATION_MAX_STALENESS_SECS`: refuse (503) once the set is older than this.
    pub max_staleness: Option<u64>,
    /// The group lists of sessions whose tokens name them by digest.
    pub groups: Arc<GroupDirectory>,
    /// Seals the ID token a session keeps for `id_token_hint`.
    pub sealer: Sealer,
    /// `SESSION_MAX_HOURS`, in seconds: how long after its sign-in a session may renew to.
    pub max_age_secs: u64,
    /// Which provider each session's `idp` stands for (`""`: none configured now). Only
    /// sessions of a configured provider (or local accounts) renew, so a provider taken out
    /// of the configuration takes its sessions with it within one token lifetime.
    pub provider_ids: crate::config::ProviderIds,
    /// The renewals this instance made (`renewal`).
    pub renewals: Arc<Renewals>,
    /// `OIDC_REFRESH`: how sessions are rechecked at the provider at their renewals.
    pub recheck: Option<crate::config::ProviderRefresh>,
    /// Seals the provider's refresh tokens.
    pub refresh_sealer: Sealer,
    /// Who asks the provider (set once by the composition root: the `oidc` room).
    pub provider_check: Arc<std::sync::OnceLock<Arc<dyn ProviderCheck>>>,
}

/// A signed-in caller, proven by a valid, unrevoked session token.
#[derive(Clone, Debug)]
pub struct Caller {
    pub claims: Claims,
    pub source: TokenSource,
}

/// Why a request carries no usable session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionProblem {
    Missing,
    Token(TokenError),
    /// Well signed and unexpired, but its session was ended (sign-out, role change, reuse).
    Revoked,
    /// The revocation set has not been filled from the store yet, or (strict mode) is older
    /// than allowed: whether the token was revoked cannot be told (503).
    Unavailable,
}

impl Sessions {
    /// The session service `config` describes, on `store`, with a revocation set not yet
    /// filled (see `load` and `spawn_sync`).
    pub fn new(
        config: &crate::config::Config,
        clock: &Arc<dyn Clock>,
        store: &Store,
        metrics: &Arc<Metrics>,
    ) -> Self {
        Self {
            tokens: Arc::new(SessionTokens::new(
                &config.session,
                config.public_url().origin(),
            )),
            revocations: Arc::new(RevocationSet::default()),
            cookie: CookieScope::new(
                config.public_url().is_https(),
                config.gateway.cookie_domain.as_deref(),
            ),
            clock: clock.clone(),
            store: store.clone(),
            outbox: Arc::new(Outbox::default()),
            metrics: metrics.clone(),
            max_staleness: config.store.revocation_max_staleness.map(|d| d.as_secs()),
            groups: Default::default(),
            sealer: Sealer::derived(config.session.secret.expose(), ID_TOKEN_HINT),
            max_age_secs: config.session.max_age.as_secs(),
            provider_ids: config.provider_ids(),
            renewals: Default::default(),
            recheck: config.claims.refresh,
            refresh_sealer: Sealer::derived(config.session.secret.expose(), PROVIDER_REFRESH_TOKEN),
            provider_check: Default::default(),
        }
    }

    /// Checks the request's credentials at `now`: the Bearer header (when `accept_bearer`)
    /// or the cookie, the token, and the revocation set; the session's groups are then whole
    /// (`resolve_groups`). Counts the outcome, and records the caller for the request's log
    /// line.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        accept_bearer: bool,
        now: u64,
    ) -> Result<Caller, SessionProblem> {
        let authorization = if accept_bearer {
            Authorization::Bearer
        } else {
            Authorization::Ignored
        };
        self.authenticate_with(headers, authorization, now).await
    }

    /// As [`Self::authenticate`], with the meaning of an `Authorization` header chosen.
    pub async fn authenticate_with(
        &self,
        headers: &HeaderMap,
        authorization: Authorization,
        now: u64,
    ) -> Result<Caller, SessionProblem> {
        let (mut outcome, mut check) = self.check(headers, authorization, now);
        if let Ok(caller) = &outcome
            && let Err(problem) = self.resolve_groups(&caller.claims).await
        {
            check = match problem {
                SessionProblem::Unavailable => TokenCheck::Unavailable,
                _ => TokenCheck::Invalid,
            };
            outcome = Err(problem);
        }
        // A renewal that rechecked at the provider may have ended the session.
        if let Ok(caller) = &outcome
            && let Err(problem) = self.renew_if_due(caller, now).await
        {
            check = TokenCheck::Revoked;
            outcome = Err(problem);
        }
        self.metrics.token_check(check);
        if let Ok(caller) = &outcome {
            scope::set_user(caller.claims.sub());
        }
        outcome
    }

    /// Who the request's token says it is, verified (signature, times) but without asking the
    /// revocation set: for signing out, which must work even before the set is synced (ending
    /// a session twice is harmless).
    pub fn identify(
        &self,
        headers: &HeaderMap,
        authorization: Authorization,
        now: u64,
    ) -> Option<Caller> {
        let (token, source) = credentials::find_token(headers, self.cookie.name(), authorization)
            .ok()
            .flatten()?;
        let claims = self.tokens.verify(token, now).ok()?;
        Some(Caller { claims, source })
    }

    fn check(
        &self,
        headers: &HeaderMap,
        authorization: Authorization,
        now: u64,
    ) -> (Result<Caller, SessionProblem>, TokenCheck) {
        let found = credentials::find_token(headers, self.cookie.name(), authorization);
        let (token, source) = match found {
            Ok(Some(found)) => found,
            Ok(None) => return (Err(SessionProblem::Missing), TokenCheck::Missing),
            Err(err) => return (Err(SessionProblem::Token(err)), TokenCheck::Invalid),
        };
        if !self.revocations.is_ready()
            || self
                .max_staleness
                .is_some_and(|max| self.revocations.age(now) > max)
        {
            return (Err(SessionProblem::Unavailable), TokenCheck::Unavailable);
        }
        let claims = match self.tokens.verify(token, now) {
            Ok(claims) => claims,
            Err(err @ TokenError::Expired) => {
                return (Err(SessionProblem::Token(err)), TokenCheck::Expired);
            }
            Err(err) => return (Err(SessionProblem::Token(err)), TokenCheck::Invalid),
        };
        if self.revocations.is_revoked(claims.revocation_id(), now) {
            return (Err(SessionProblem::Revoked), TokenCheck::Revoked);
        }
        (Ok(Caller { claims, source }), TokenCheck::Valid)
    }
}

/// 401 as RFC 6750 §3 wants it: a bare challenge when no credentials came, `invalid_token`
/// (expired told apart from invalid) when they did.
impl From<SessionProblem> for AppError {
    fn from(problem: SessionProblem) -> Self {
        if problem == SessionProblem::Unavailable {
            return AppError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "doorman cannot tell yet whether this session was ended (its store has not \
                 been reached); try again shortly",
            )
            .page(
                "Temporarily unavailable",
                "doorman cannot reach its store right now. Please try again in a minute.",
            )
            .retry_after(2);
        }
        let (code, message, challenge) = match problem {
            SessionProblem::Missing => (
                "unauthorized",
                "sign in first, or send Authorization: Bearer <token>",
                "Bearer",
            ),
            SessionProblem::Token(TokenError::Expired) => (
                "invalid_token",
                "token expired",
                r#"Bearer error="invalid_token", error_description="token expired""#,
            ),
            SessionProblem::Token(TokenError::Invalid)
            | SessionProblem::Revoked
            | SessionProblem::Unavailable => (
                "invalid_token",
                "invalid token",
                r#"Bearer error="invalid_token", error_description="invalid token""#,
            ),
        };
        AppError::new(StatusCode::UNAUTHORIZED, code, message).challenge(challenge)
    }
}

impl From<SessionError> for AppError {
    fn from(err: SessionError) -> Self {
        match err {
            SessionError::Store(err) => err.into(),
            // The log line gets the whole chain ("…: <serde's reason>"), the client the
            // generic message.
            mint @ SessionError::Mint(_) => {
                AppError::internal(format!("{:#}", anyhow::Error::new(mint)))
            }
        }
    }
}

crate::error::renders_as_app_error!(SessionProblem);
crate::error::renders_as_app_error!(SessionError);
