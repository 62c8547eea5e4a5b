//! Ending sessions together with the provider's, both ways:
//!
//! - **Back-Channel Logout 1.0**: the provider posts a logout token; once `logout_token` has
//!   verified it, the store claims its `jti` and revokes every session it names in one
//!   transaction (so a replay has no second effect, on any instance), this instance refuses
//!   them at once, and the others hear of it through the revocation feed.
//! - **RP-Initiated Logout 1.0**: after doorman's own session has ended, the browser is sent
//!   to the provider's `end_session_endpoint` with the session's ID token as `id_token_hint`
//!   (kept sealed in the store, never in a cookie), `client_id`, where to come back, and a
//!   `state` the way back is checked against.

use sha2::{Digest, Sha256};
use url::Url;

use super::sign_in::SignInService;
use super::{SignInError, logout_token};
use crate::error::AppError;
use crate::session::Claims;
use crate::store::{ProviderLogout, StoreError};

/// Why a back-channel logout did nothing.
#[derive(Debug, thiserror::Error)]
pub enum BackchannelError {
    /// The request or its token breaks a rule (the reason code names which): 400.
    #[error("invalid logout token: {0}")]
    Invalid(String),
    /// This token (its `jti`) was used before: 400, and nothing happens a second time.
    #[error("logout token already used")]
    Replayed,
    /// The provider's keys or doorman's store cannot be reached now: 503, worth a retry.
    #[error("cannot carry out the logout now: {0}")]
    Unavailable(String),
}

impl BackchannelError {
    /// The result, as the metric counts it: `invalid`, `replayed` or `unavailable`.
    pub fn result(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid",
            Self::Replayed => "replayed",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

impl From<BackchannelError> for AppError {
    fn from(err: BackchannelError) -> Self {
        let detail = err.to_string();
        let app = match &err {
            BackchannelError::Invalid(_) => AppError::bad_request(
                "invalid_request",
                "The logout token is not valid for this client.",
            ),
            BackchannelError::Replayed => {
                AppError::bad_request("invalid_request", "This logout token was already used.")
            }
            BackchannelError::Unavailable(_) => AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "The logout cannot be carried out right now; send it again shortly.",
            )
            .retry_after(5),
        };
        let mut app = app.detail(detail).oauth();
        app.event = Some(("backchannel_logout", ""));
        app
    }
}

crate::error::renders_as_app_error!(BackchannelError);

/// Where a browser goes to sign out at the provider, and the `state` it must bring back.
pub struct ProviderSignOut {
    pub url: Url,
    pub state: String,
}

impl SignInService {
    /// Carries out the back-channel logout `raw` (the form's `logout_token`) at `now`;
    /// returns how many sessions it ended (none is a success: they may have ended already).
    pub async fn backchannel_logout(&self, raw: &str, now: u64) -> Result<usize, BackchannelError> {
        let provider = self.provider.get().await.map_err(unavailable_or_invalid)?;
        let request = logout_token::verify(&self.provider, &provider, raw, now)
            .await
            .map_err(unavailable_or_invalid)?;
        let issuer = self.provider.issuer().as_str();
        let jti_digest: [u8; 32] = Sha256::new()
            .chain_update(b"doorman backchannel logout jti\0")
            .chain_update(issuer.as_bytes())
            .chain_update(b"\0")
            .chain_update(request.jti.as_bytes())
            .finalize()
            .into();
        let logout = ProviderLogout {
            issuer,
            subject: request.subject.as_deref(),
            provider_sid: request.provider_sid.as_deref(),
            jti_digest,
            jti_expires_at: request.valid_until,
        };
        let revoke_for = self.sessions.revocation_lifetime();
        match self.store.provider_logout(logout, now, revoke_for).await {
            Ok(Some(revocations)) => {
                self.sessions.apply(&revocations);
                Ok(revocations.len())
            }
            Ok(None) => Err(BackchannelError::Replayed),
            Err(err) => Err(BackchannelError::Unavailable(store_reason(&err))),
        }
    }

    /// Where the browser goes next to sign out at the provider too, once the session of
    /// `claims` has ended here (coming back to `post_logout_redirect_uri`); `None` keeps the
    /// sign-out local: `OIDC_LOGOUT=local`, a session from elsewhere (a local account), or a
    /// provider that advertises no `end_session_endpoint` (Google).
    pub async fn provider_sign_out(
        &self,
        claims: &Claims,
        post_logout_redirect_uri: &str,
    ) -> Option<ProviderSignOut> {
        if !self.claims.logout_at_provider || claims.idp() != self.provider.issuer().as_str() {
            return None;
        }
        let provider = self.provider.get().await.ok()?;
        let mut url = provider.features.end_session_endpoint.clone()?;
        let hint = match claims.sid() {
            Some(sid) => self.sessions.id_token_hint(sid).await.unwrap_or_else(|err| {
                tracing::warn!(error = %err, "cannot read the session's ID token; signing out at the provider by client_id");
                None
            }),
            None => None,
        };
        let state = crate::random::secret_token();
        {
            let mut query = url.query_pairs_mut();
            if let Some(hint) = &hint {
                query.append_pair("id_token_hint", hint);
            }
            query
                .append_pair("client_id", self.provider.client_id().as_str())
                .append_pair("post_logout_redirect_uri", post_logout_redirect_uri)
                .append_pair("state", &state);
        }
        Some(ProviderSignOut { url, state })
    }
}

/// A failure to reach the provider is worth a retry (503); anything else is the token's.
fn unavailable_or_invalid(err: SignInError) -> BackchannelError {
    match err {
        SignInError::InvalidIdToken(code) => BackchannelError::Invalid(code),
        SignInError::ProviderUnavailable
        | SignInError::ProviderTimeout
        | SignInError::ProviderFailed(_) => BackchannelError::Unavailable(err.to_string()),
        other => BackchannelError::Invalid(other.to_string()),
    }
}

fn store_reason(err: &StoreError) -> String {
    format!("store: {err}")
}
