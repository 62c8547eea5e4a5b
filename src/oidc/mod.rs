//! The only code that talks to the identity provider: discovery (`provider`), its keys
//! (`keys`, held and re-fetched on an unverifiable token by `key_cache`), the outbound client
//! (`http`), the per-attempt flow cookie (`flow`) and a browser's jar of them (`flow_jar`),
//! the callback's checks (`callback`), the code exchange (`exchange`), ID-token verification
//! (`id_token`, with Google's legacy issuer in `legacy`, both on `jose`), UserInfo
//! (`userinfo`), the access lists (`policy`), every configured provider's service
//! (`providers`: found by id, issuer or callback), and the service the routes call (`sign_in`:
//! it also admits the person as a user and starts their session, through `accounts` and
//! `session`; `sign_out`: sessions that end with the provider's, by its back-channel logout
//! token, checked in `logout_token`, or at its `end_session_endpoint`).
//!
//! Checks run cheapest and most decisive first, and nothing reaches the provider before the
//! browser's answer has proven it belongs to an attempt we started.

pub mod callback;
mod exchange;
pub mod flow;
mod flow_jar;
mod groups;
pub mod http;
mod id_token;
mod jose;
mod key_cache;
pub mod keys;
mod legacy;
mod logout_token;
pub mod metadata;
pub mod policy;
pub mod provider;
mod providers;
mod recheck;
mod sign_in;
mod sign_out;
mod userinfo;

use axum::http::StatusCode;

pub use flow_jar::FlowJar;
pub use legacy::issuer_matches;
pub use providers::{Providers, Rechecks};
pub use recheck::Rechecker;
pub use sign_in::{FinishError, SignInService, SignedIn};
pub use sign_out::{BackchannelError, ProviderSignOut};

use crate::error::AppError;

/// Why a sign-in attempt failed. Each variant's payload is a reason code for the log, never
/// token material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// A forged, replayed, stale or malformed callback (400).
    #[error("invalid callback: {0}")]
    InvalidCallback(&'static str),
    /// The provider refused the code: replayed or injected (400).
    #[error("authorization code rejected")]
    InvalidGrant,
    /// The ID token or the userinfo answer failed validation (400).
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The provider vouched for the person, but the access policy does not admit them (403).
    #[error("not allowed by the access policy: {0}")]
    NotAllowed(&'static str),
    /// The user cancelled, or the provider declined, with a valid state (403).
    #[error("sign-in declined by the provider: {0}")]
    Declined(String),
    /// The provider answered with something unusable (502).
    #[error("provider failure: {0}")]
    ProviderFailed(String),
    /// The provider has not been discovered (503).
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// The provider names more groups, or longer ones, than doorman keeps (502).
    #[error("unusable groups: {0}")]
    TooManyGroups(String),
    /// A call to the provider took longer than the configured limit (504).
    #[error("provider timed out")]
    ProviderTimeout,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The page a browser sees for each way a sign-in can fail; the variant's payload goes to the
/// log only.
impl From<SignInError> for AppError {
    fn from(err: SignInError) -> Self {
        let detail = err.to_string();
        let (status, code, title, text) = match err {
            SignInError::InvalidCallback(_)
            | SignInError::InvalidGrant
            | SignInError::InvalidIdToken(_) => (
                StatusCode::BAD_REQUEST,
                "sign_in_failed",
                "Sign-in could not be completed",
                "The answer from the sign-in provider could not be verified. This happens after \
                 using the back button, opening an old link, or waiting too long.",
            ),
            SignInError::NotAllowed(_) => (
                StatusCode::FORBIDDEN,
                "not_allowed",
                "Not allowed to sign in",
                "The sign-in provider confirmed who you are, but this service only admits certain \
                 accounts. Sign in with another account, or ask whoever runs it for access.",
            ),
            SignInError::Declined(_) => (
                StatusCode::FORBIDDEN,
                "sign_in_declined",
                "Sign-in cancelled",
                "Signing in was cancelled or declined, so you are not signed in. Nothing else changed.",
            ),
            SignInError::ProviderFailed(_) => (
                StatusCode::BAD_GATEWAY,
                "provider_failed",
                "The sign-in provider failed",
                "The sign-in provider gave an answer doorman cannot use. Please try again in a minute.",
            ),
            SignInError::TooManyGroups(_) => (
                StatusCode::BAD_GATEWAY,
                "too_many_groups",
                "Too many groups",
                "The sign-in provider confirmed who you are, but sent more groups (or longer \
                 group names) than doorman accepts: at most 500, of at most 256 bytes each. \
                 Ask whoever runs this service to narrow the groups claim at the provider.",
            ),
            SignInError::ProviderUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "provider_unavailable",
                "Sign-in is unavailable",
                "doorman cannot reach the sign-in provider right now. Please try again in a minute.",
            ),
            SignInError::ProviderTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "provider_timeout",
                "The sign-in provider timed out",
                "The sign-in provider did not answer in time. Please try again in a minute.",
            ),
            SignInError::Internal(_) => return AppError::internal(detail),
        };
        AppError::new(status, code, text)
            .page(title, text)
            .detail(detail)
            .offer_sign_in()
    }
}

crate::error::renders_as_app_error!(SignInError);
