//! The only code that talks to the identity provider: discovery (`provider`), its keys
//! (`keys`), the outbound client (`http`), the per-attempt flow cookie (`flow`), the callback's
//! checks (`callback`), the code exchange (`exchange`), ID-token verification (`id_token`,
//! with Google's legacy issuer in `legacy`), UserInfo (`userinfo`), the access lists
//! (`policy`), and the service the routes call (`sign_in`).
//!
//! Checks run cheapest and most decisive first, and nothing reaches the provider before the
//! browser's answer has proven it belongs to an attempt we started.

pub mod callback;
mod exchange;
pub mod flow;
pub mod http;
mod id_token;
pub mod keys;
mod legacy;
pub mod policy;
pub mod provider;
pub mod sign_in;
mod userinfo;

use std::sync::Arc;

pub use legacy::issuer_matches;

use crate::config::Issuer;
use provider::ProviderHandle;

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
    /// A call to the provider took longer than the configured limit (504).
    #[error("provider timed out")]
    ProviderTimeout,
    #[error("internal error: {0}")]
    Internal(String),
}

/// Shared by the auth routes: the provider handle and the issuer as configured.
pub struct Oidc {
    pub provider: Arc<ProviderHandle>,
    /// The configured issuer, as the `iss` callback parameter must name it.
    pub issuer: Issuer,
}
