//! The identity provider as discovered: metadata, signing keys and a configured client.
//!
//! Discovery runs in the background from start-up until it succeeds, so a provider that is down
//! when doorman starts costs a 503 on `/auth/login`, not a crash. Keys are re-fetched when a
//! token names a `kid` we have not seen (key rotation), at most once per window.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreClient, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    ClientId, ClientSecret, DiscoveryError, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, JsonWebKey, RedirectUrl,
};
use url::Url;

use super::AuthError;
use super::http::{OutboundError, ProviderHttp};
use crate::config::{GOOGLE_ISSUER, is_loopback_host};

pub type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The least time between two JWKS fetches caused by unknown key ids.
pub const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// The least time between two discovery attempts caused by visitors.
const DISCOVERY_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// ID token algorithms doorman will verify: asymmetric only, so neither the client secret nor a
/// public key can ever be used as an HMAC key.
const ACCEPTABLE_ALGS: &[CoreJwsSigningAlgorithm] = &[
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// One discovered provider, immutable; replaced whole when its keys change.
pub struct Provider {
    pub client: OidcClient,
    pub metadata: CoreProviderMetadata,
    pub allowed_algs: Vec<CoreJwsSigningAlgorithm>,
    pub key_ids: HashSet<String>,
    pub has_userinfo: bool,
}

impl Provider {
    pub fn issuer(&self) -> &IssuerUrl {
        self.metadata.issuer()
    }

    /// Google's ID tokens may carry the legacy issuer `accounts.google.com`.
    pub fn is_google(&self) -> bool {
        self.issuer().as_str().trim_end_matches('/') == GOOGLE_ISSUER
    }
}

pub struct ProviderHandle {
    issuer: IssuerUrl,
    client_id: ClientId,
    client_secret: ClientSecret,
    redirect_uri: RedirectUrl,
    pub http: ProviderHttp,
    current: RwLock<Option<Arc<Provider>>>,
    last_discovery: tokio::sync::Mutex<Option<Instant>>,
    last_jwks_refresh: tokio::sync::Mutex<Option<Instant>>,
}

impl ProviderHandle {
    pub fn new(
        issuer: &Url,
        client_id: String,
        client_secret: String,
        redirect_uri: &Url,
        http: ProviderHttp,
    ) -> anyhow::Result<Self> {
        // `IssuerUrl` keeps the string as written: Google's issuer has no trailing slash.
        let issuer_text = issuer.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            issuer: IssuerUrl::new(issuer_text)?,
            client_id: ClientId::new(client_id),
            client_secret: ClientSecret::new(client_secret),
            redirect_uri: RedirectUrl::from_url(redirect_uri.clone()),
            http,
            current: RwLock::new(None),
            last_discovery: tokio::sync::Mutex::new(None),
            last_jwks_refresh: tokio::sync::Mutex::new(None),
        })
    }

    pub fn client_id(&self) -> &ClientId {
        &self.client_id
    }

    fn cached(&self) -> Option<Arc<Provider>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn store(&self, provider: Provider) -> Arc<Provider> {
        let provider = Arc::new(provider);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(provider.clone());
        provider
    }

    pub fn is_ready(&self) -> bool {
        self.cached().is_some()
    }

    /// The provider, discovering it now if the background task has not managed yet.
    pub async fn get(&self) -> Result<Arc<Provider>, AuthError> {
        if let Some(provider) = self.cached() {
            return Ok(provider);
        }
        let mut last = self.last_discovery.lock().await;
        if let Some(provider) = self.cached() {
            return Ok(provider);
        }
        if last.is_some_and(|t| t.elapsed() < DISCOVERY_RETRY_INTERVAL) {
            return Err(AuthError::ProviderUnavailable);
        }
        *last = Some(Instant::now());
        match self.discover().await {
            Ok(provider) => Ok(self.store(provider)),
            Err(reason) => {
                tracing::warn!(%reason, issuer = %self.issuer.as_str(), "OpenID discovery failed");
                Err(AuthError::ProviderUnavailable)
            }
        }
    }

    /// Keeps trying discovery, backing off up to a minute, until it succeeds once.
    pub fn spawn_discovery(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(200);
            loop {
                if self.cached().is_some() {
                    return;
                }
                {
                    let mut last = self.last_discovery.lock().await;
                    *last = Some(Instant::now());
                    match self.discover().await {
                        Ok(provider) => {
                            self.store(provider);
                            tracing::info!(issuer = %self.issuer.as_str(), "OpenID provider discovered");
                            return;
                        }
                        Err(reason) => tracing::warn!(
                            %reason,
                            issuer = %self.issuer.as_str(),
                            retry_in_ms = delay.as_millis() as u64,
                            "OpenID discovery failed; sign-in answers 503 until it succeeds"
                        ),
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(60));
            }
        });
    }

    async fn discover(&self) -> Result<Provider, String> {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(describe_discovery_error)?;
        self.check_endpoints(&metadata)?;
        if metadata.token_endpoint().is_none() {
            return Err("the provider advertises no token endpoint".into());
        }
        Ok(self.build(metadata))
    }

    /// Endpoints must be https; http only for a provider on this machine.
    fn check_endpoints(&self, metadata: &CoreProviderMetadata) -> Result<(), String> {
        let mut urls: Vec<&Url> = vec![
            metadata.authorization_endpoint().url(),
            metadata.jwks_uri().url(),
        ];
        urls.extend(metadata.token_endpoint().map(|u| u.url()));
        urls.extend(metadata.userinfo_endpoint().map(|u| u.url()));
        for url in urls {
            let ok = url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(url));
            if !ok {
                return Err(format!("endpoint {url} is not https"));
            }
        }
        Ok(())
    }

    fn build(&self, metadata: CoreProviderMetadata) -> Provider {
        let allowed_algs = allowed_algs(&metadata);
        let key_ids = metadata
            .jwks()
            .keys()
            .iter()
            .filter_map(|k| k.key_id().map(|id| id.as_str().to_owned()))
            .collect();
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
            key_ids,
            has_userinfo,
        }
    }

    /// Called when an ID token names a key we do not have: fetch the JWKS again, unless that
    /// was done within the last window (random `kid`s must not make us hammer the provider).
    pub async fn refresh_keys(
        &self,
        stale: &Arc<Provider>,
        kid: &str,
    ) -> Result<Arc<Provider>, AuthError> {
        let mut last = self.last_jwks_refresh.lock().await;
        if let Some(current) = self.cached()
            && !Arc::ptr_eq(&current, stale)
            && current.key_ids.contains(kid)
        {
            return Ok(current);
        }
        if last.is_some_and(|t| t.elapsed() < JWKS_REFRESH_INTERVAL) {
            return Ok(stale.clone());
        }
        *last = Some(Instant::now());
        tracing::info!(issuer = %self.issuer.as_str(), "unknown signing key id; fetching the provider's keys again");
        let jwks = CoreJsonWebKeySet::fetch_async(stale.metadata.jwks_uri(), &self.http)
            .await
            .map_err(|err| match err {
                DiscoveryError::Request(OutboundError::Timeout) => AuthError::ProviderTimeout,
                other => AuthError::ProviderFailed(format!(
                    "jwks_refresh: {}",
                    describe_discovery_error(other)
                )),
            })?;
        let metadata = stale.metadata.clone().set_jwks(jwks);
        Ok(self.store(self.build(metadata)))
    }
}

/// The ID token algorithms doorman verifies for this provider: the asymmetric ones it
/// advertises, or RS256 (the OpenID Connect default) if it advertises none of them. Never a
/// MAC algorithm, never `none`.
pub fn allowed_algs(metadata: &CoreProviderMetadata) -> Vec<CoreJwsSigningAlgorithm> {
    let advertised = metadata.id_token_signing_alg_values_supported();
    let mut allowed: Vec<_> = ACCEPTABLE_ALGS
        .iter()
        .filter(|alg| advertised.contains(alg))
        .cloned()
        .collect();
    if allowed.is_empty() {
        allowed.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
    }
    allowed
}

fn describe_discovery_error(err: DiscoveryError<OutboundError>) -> String {
    match err {
        DiscoveryError::Request(e) => e.to_string(),
        DiscoveryError::Response(status, _, _) => format!("HTTP {status}"),
        DiscoveryError::Parse(_) => "the document is not valid provider metadata".into(),
        DiscoveryError::Validation(msg) => msg,
        DiscoveryError::UrlParse(_) => "the issuer URL cannot be used".into(),
        DiscoveryError::Other(msg) => msg,
        _ => "unexpected discovery failure".into(),
    }
}
