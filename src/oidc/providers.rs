//! Every configured provider's sign-in service, found by id (from a URL or a policy), by
//! issuer (a session's `idp`, a logout token's `iss`) or by callback path. Each is
//! discovered, keyed and failing on its own: one provider being down never touches another.

use std::future::Future;
use std::pin::Pin;

use super::SignInService;
use super::sign_out::{BackchannelError, ProviderSignOut};
use crate::session::{Claims, ProviderCheck, Recheck, Rechecked};

/// The providers, in the order they are configured (the chooser's order). Never empty.
pub struct Providers {
    list: Vec<SignInService>,
}

impl Providers {
    pub fn new(list: Vec<SignInService>) -> Self {
        assert!(!list.is_empty(), "the configuration always has a provider");
        Self { list }
    }

    pub fn all(&self) -> &[SignInService] {
        &self.list
    }

    /// With one provider, sign-in goes straight to it; with several, the chooser shows.
    pub fn only(&self) -> Option<&SignInService> {
        match self.list.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The first configured provider (the only one, when there is one).
    pub fn first(&self) -> &SignInService {
        &self.list[0]
    }

    pub fn get(&self, id: &str) -> Option<&SignInService> {
        self.list.iter().find(|p| p.id == id)
    }

    /// The provider whose issuer is exactly `issuer`.
    pub fn by_issuer(&self, issuer: &str) -> Option<&SignInService> {
        self.list.iter().find(|p| p.issuer.as_str() == issuer)
    }

    /// The provider whose callback is at `path`.
    pub fn by_callback(&self, path: &str) -> Option<&SignInService> {
        self.list.iter().find(|p| p.callback_path == path)
    }

    /// Starts every provider's discovery, each on its own.
    pub fn spawn_discovery(&self) {
        for provider in &self.list {
            provider.provider.clone().spawn_discovery();
        }
    }

    /// A back-channel logout token, carried out by the provider its `iss` names (read before
    /// verification only to choose whose keys verify it; the verification checks it again).
    pub async fn backchannel_logout(&self, raw: &str, now: u64) -> Result<usize, BackchannelError> {
        let provider = match self.only() {
            Some(only) => only,
            None => unverified_issuer(raw)
                .and_then(|iss| self.by_issuer(&iss))
                .ok_or_else(|| BackchannelError::Invalid("unknown_issuer".into()))?,
        };
        provider.backchannel_logout(raw, now).await
    }

    /// Where the browser goes to sign out at the provider the session of `claims` came from.
    pub async fn provider_sign_out(
        &self,
        claims: &Claims,
        post_logout_redirect_uri: &str,
    ) -> Option<ProviderSignOut> {
        self.by_issuer(claims.idp())?
            .provider_sign_out(claims, post_logout_redirect_uri)
            .await
    }
}

/// The `iss` in a compact JWS's payload, unverified.
fn unverified_issuer(raw: &str) -> Option<String> {
    use base64::Engine as _;
    let payload = raw.trim().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    value.get("iss")?.as_str().map(str::to_owned)
}

/// Rechecks at the provider a session came from (`OIDC_REFRESH`).
pub struct Rechecks(pub Vec<(String, super::Rechecker)>);

impl ProviderCheck for Rechecks {
    fn recheck<'a>(
        &'a self,
        claims: &'a Claims,
        refresh_token: String,
        now: u64,
    ) -> Pin<Box<dyn Future<Output = Rechecked> + Send + 'a>> {
        match self.0.iter().find(|(issuer, _)| issuer == claims.idp()) {
            Some((_, rechecker)) => rechecker.recheck(claims, refresh_token, now),
            // Its provider is no longer configured: nobody can vouch for it any more.
            None => Box::pin(async {
                Rechecked {
                    outcome: Recheck::Ended("provider_removed"),
                    refresh_token: None,
                }
            }),
        }
    }
}
