//! The identity provider as discovered: metadata, a configured client, and its signing keys
//! (held by `key_cache`).
//!
//! Discovery runs in the background from start-up until it succeeds, so a provider that is down
//! when doorman starts costs a 503 on `/auth/login`, not a crash. The issuer is compared exactly
//! as configured (OpenID Connect Discovery §4.3): a trailing slash is part of it.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use openidconnect::core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, RedirectUrl,
};
use url::Url;

use super::SignInError;
use super::http::{Endpoint, OutboundError, ProviderHttp};
use super::key_cache::{Failure, KeyCache, KeySource};
use super::keys::{self, Keys};
use super::metadata::{
    SessionFeatures, advertises_iss_parameter, allowed_algs, check_endpoints, session_features,
};
use crate::clock::Clock;
use crate::config::Issuer;

pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The least time between two discovery attempts caused by visitors.
const DISCOVERY_RETRY_SECS: u64 = 2;

/// One discovered provider, immutable.
pub struct Provider {
    pub client: OidcClient,
    pub metadata: CoreProviderMetadata,
    pub allowed_algs: Vec<CoreJwsSigningAlgorithm>,
    pub has_userinfo: bool,
    /// `authorization_response_iss_parameter_supported: true` (RFC 9207): every callback
    /// must then carry `iss`.
    pub requires_iss_parameter: bool,
    /// Sign-out at the provider, back-channel logout, refresh tokens.
    pub features: SessionFeatures,
}

pub struct ProviderHandle {
    issuer: Issuer,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_uri: RedirectUrl,
    pub http: ProviderHttp,
    clock: Arc<dyn Clock>,
    current: RwLock<Option<Arc<Provider>>>,
    keys: KeyCache,
    last_discovery: tokio::sync::Mutex<Option<u64>>,
    /// Raised when discovery first succeeds, for whoever must wait for it (the tests do).
    discovered: tokio::sync::watch::Sender<bool>,
}

impl ProviderHandle {
    pub fn new(
        issuer: Issuer,
        client_id: String,
        client_secret: String,
        redirect_uri: &Url,
        http: ProviderHttp,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            issuer,
            client_id: ClientId::new(client_id),
            client_secret: ClientSecret::new(client_secret),
            redirect_uri: RedirectUrl::from_url(redirect_uri.clone()),
            http,
            clock,
            current: RwLock::new(None),
            keys: KeyCache::default(),
            last_discovery: tokio::sync::Mutex::new(None),
            discovered: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    fn cached(&self) -> Option<Arc<Provider>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn is_ready(&self) -> bool {
        self.cached().is_some()
    }

    /// Returns once discovery has succeeded (at once if it has).
    pub async fn discovered(&self) {
        let mut discovered = self.discovered.subscribe();
        // The sender lives as long as `self`, so this only returns once it is raised.
        let _ = discovered.wait_for(|done| *done).await;
    }

    /// Whether the provider's signing keys have been fetched.
    pub fn has_keys(&self) -> bool {
        self.keys.current().is_some()
    }

    /// The provider, discovering it now if the background task has not managed yet.
    pub async fn get(&self) -> Result<Arc<Provider>, SignInError> {
        if let Some(provider) = self.cached() {
            return Ok(provider);
        }
        let mut last = self.last_discovery.lock().await;
        if let Some(provider) = self.cached() {
            return Ok(provider);
        }
        let now = self.clock.now();
        if last.is_some_and(|t| now < t + DISCOVERY_RETRY_SECS) {
            return Err(SignInError::ProviderUnavailable);
        }
        *last = Some(now);
        match self.discover().await {
            Ok(provider) => Ok(provider),
            Err(reason) => {
                tracing::warn!(%reason, issuer = %self.issuer, "OpenID discovery failed");
                Err(SignInError::ProviderUnavailable)
            }
        }
    }

    /// Discovers the provider now, once, and says why it failed (`doorman check`).
    pub async fn discover_now(&self) -> Result<Arc<Provider>, String> {
        self.discover().await
    }

    /// Keeps trying discovery, backing off up to a minute, until it succeeds once; then keeps
    /// the keys fresh as the provider's `Cache-Control` asks.
    pub fn spawn_discovery(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            while self.cached().is_none() {
                {
                    let mut last = self.last_discovery.lock().await;
                    *last = Some(self.clock.now());
                    match self.discover().await {
                        Ok(_) => {
                            tracing::info!(issuer = %self.issuer, "OpenID provider discovered");
                            break;
                        }
                        Err(reason) => tracing::warn!(
                            %reason,
                            issuer = %self.issuer,
                            retry_in_ms = delay.as_millis() as u64,
                            "OpenID discovery failed; sign-in answers 503 until it succeeds"
                        ),
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
            self.refresh_keys_forever().await;
        });
    }

    /// Re-fetches the keys whenever they go stale; a failure keeps the old ones and retries.
    async fn refresh_keys_forever(&self) {
        let mut retry = Duration::from_secs(5);
        loop {
            let now = self.clock.now();
            let wait = self
                .keys
                .current()
                .map_or(0, |k| k.fresh_until.saturating_sub(now));
            if wait > 0 {
                tokio::time::sleep(Duration::from_secs(wait)).await;
                continue;
            }
            let refreshed = match self.get().await {
                Ok(provider) => {
                    self.keys
                        .refresh(&self.key_source(&provider), "max_age")
                        .await
                }
                Err(err) => Err(err),
            };
            match refreshed {
                Ok(_) => retry = Duration::from_secs(5),
                Err(err) => {
                    tracing::warn!(error = %err, "refreshing the provider's keys failed; keeping the old ones");
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(Duration::from_secs(300));
                }
            }
        }
    }

    async fn discover(&self) -> Result<Arc<Provider>, String> {
        let url = IssuerUrl::new(self.issuer.as_str().to_owned())
            .and_then(|i| i.join(".well-known/openid-configuration"))
            .map_err(|_| "the issuer URL cannot be used".to_owned())?;
        let response = self
            .http
            .get_json(Endpoint::Discovery, url.as_str())
            .await
            .map_err(|e| e.to_string())?;
        if response.status() != openidconnect::http::StatusCode::OK {
            return Err(format!("HTTP {}", response.status().as_u16()));
        }
        if !keys::is_json(response.headers()) {
            return Err("the discovery document is not JSON".into());
        }
        let metadata: CoreProviderMetadata = serde_json::from_slice(response.body())
            .map_err(|_| "the document is not valid provider metadata".to_owned())?;
        let requires_iss_parameter = advertises_iss_parameter(response.body());
        let features = session_features(response.body());
        if metadata.issuer().as_str() != self.issuer.as_str() {
            return Err(format!(
                "the document names the issuer `{}`, not `{}` (compared exactly, trailing slash included)",
                metadata.issuer().as_str(),
                self.issuer
            ));
        }
        check_endpoints(&metadata)?;
        if metadata.token_endpoint().is_none() {
            return Err("the provider advertises no token endpoint".into());
        }
        let keys = keys::fetch(
            &self.http,
            metadata.jwks_uri().url().as_str(),
            self.clock.now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        self.http.jwks_refreshed("discovery");
        self.keys.store(keys);
        let provider = Arc::new(self.build(metadata, requires_iss_parameter, features));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(provider.clone());
        self.discovered.send_replace(true);
        Ok(provider)
    }

    fn build(
        &self,
        metadata: CoreProviderMetadata,
        requires_iss_parameter: bool,
        features: SessionFeatures,
    ) -> Provider {
        let allowed_algs = allowed_algs(&metadata);
        let has_userinfo = metadata.userinfo_endpoint().is_some();
        let client = CoreClient::from_provider_metadata(
            metadata.clone(),
            self.client_id.clone(),
            Some(self.client_secret.clone()),
        )
        .set_redirect_uri(self.redirect_uri.clone());
        Provider {
            client,
            metadata,
            allowed_algs,
            has_userinfo,
            requires_iss_parameter,
            features,
        }
    }

    /// The current keys, fetched first if the provider's `max-age` has run out.
    pub async fn keys(&self, now: u64) -> Result<Arc<Keys>, SignInError> {
        let provider = self.get().await?;
        self.keys.fresh(&self.key_source(&provider), now).await
    }

    /// Runs `attempt` with the provider's keys, and again with keys fetched now if none of
    /// them verifies the token whose header names `kid` (see `key_cache`): for every token the
    /// provider signs.
    pub(super) async fn verify_with_keys<T>(
        &self,
        provider: &Provider,
        kid: Option<&str>,
        now: u64,
        attempt: impl Fn(&Keys) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        self.keys
            .verify(&self.key_source(provider), kid, now, attempt)
            .await
    }

    fn key_source<'a>(&'a self, provider: &'a Provider) -> KeySource<'a> {
        KeySource {
            issuer: self.issuer.as_str(),
            http: &self.http,
            jwks_uri: provider.metadata.jwks_uri().url().as_str(),
            clock: self.clock.as_ref(),
        }
    }
}

impl From<OutboundError> for SignInError {
    fn from(err: OutboundError) -> Self {
        match err {
            OutboundError::Timeout => SignInError::ProviderTimeout,
            other => SignInError::ProviderFailed(other.to_string()),
        }
    }
}
