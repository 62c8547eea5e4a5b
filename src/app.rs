//! The composition root: `App::new(config, deps)` builds every part once, from the
//! configuration and the dependencies a test may replace (the clock); `AppState` is what
//! handlers receive (one `Arc`, so cloning it per request is one atomic increment).

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use axum_extra::extract::cookie::Key;

use crate::accounts::{LoginThrottle, PasswordCheck, PasswordHasher, throttle};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ProviderConfig, ProviderSettings, TrustedProxies};
use crate::dev_provider::{self, DEV_CLIENT_ID, DevProvider};
use crate::gateway::{Gateway, Signer};
use crate::net::{ProxyTrust, RateLimiter};
use crate::oidc::http::ProviderHttp;
use crate::oidc::provider::ProviderHandle;
use crate::oidc::{Providers, Rechecks, SignInService};
use crate::session::{SessionContext, Sessions};
use crate::store::{PgSettings, Store};
use crate::telemetry::Metrics;

/// How often expired revocations, sessions and counters are swept, and failed writes retried.
const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(30);
/// A store that takes longer than this to answer `SELECT 1` counts as failing (readiness).
const STORE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a test may replace; `Deps::default()` is production.
#[derive(Clone)]
pub struct Deps {
    pub clock: Arc<dyn Clock>,
}

impl Default for Deps {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
        }
    }
}

/// Per-client request budgets.
pub struct Limiters {
    /// `POST /api/login`, `POST /auth/password`.
    pub login: RateLimiter,
    /// `POST /api/register`.
    pub register: RateLimiter,
    /// `GET /auth/login`, `GET /auth/callback`.
    pub sign_in: RateLimiter,
}

/// Everything handlers share, built once.
pub struct App {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub sessions: Sessions,
    /// Sign-in through each provider: `/auth/login` and `/auth/callback[/<id>]`.
    pub sign_in: Providers,
    pub flow_key: Key,
    pub hasher: PasswordHasher,
    pub throttle: LoginThrottle,
    pub limits: Limiters,
    pub dev: Option<Arc<DevProvider>>,
    pub metrics: Arc<Metrics>,
    /// Judging requests for other services, and telling them who is calling.
    pub gateway: Arc<Gateway>,
}

/// The handlers' state: one shared `App`.
#[derive(Clone)]
pub struct AppState(pub Arc<App>);

impl From<App> for AppState {
    fn from(app: App) -> Self {
        Self(Arc::new(app))
    }
}

impl Deref for AppState {
    type Target = App;

    fn deref(&self) -> &App {
        &self.0
    }
}

impl SessionContext for AppState {
    fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    fn public_origin(&self) -> &str {
        self.config.public_url().origin()
    }

    fn roles_from_groups(&self, idp: &str) -> &[(String, String)] {
        self.sign_in
            .by_issuer(idp)
            .map_or(&[], |p| p.role_from_groups())
    }
}

impl crate::accounts::GroupRoles for AppState {
    fn for_issuer(&self, issuer: &str) -> &[(String, String)] {
        self.roles_from_groups(issuer)
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Self {
        state.flow_key.clone()
    }
}

impl ProxyTrust for AppState {
    fn trusted_proxies(&self) -> &TrustedProxies {
        &self.config.server.trusted_proxies
    }
}

impl Limiters {
    fn new(config: &Config, metrics: &Arc<Metrics>) -> Self {
        let limits = &config.limits;
        Self {
            login: RateLimiter::new(limits.login_per_minute, 60, "login", metrics.clone()),
            register: RateLimiter::new(limits.register_per_hour, 3600, "register", metrics.clone()),
            sign_in: RateLimiter::new(limits.sign_in_per_minute, 60, "sign_in", metrics.clone()),
        }
    }
}

/// One provider's client; for the development provider also the built-in provider it talks
/// to.
async fn provider(
    config: &Config,
    settings: &ProviderSettings,
    id: &'static str,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<(Arc<ProviderHandle>, Option<Arc<DevProvider>>)> {
    let redirect_uri = settings.redirect_uri(config.public_url());
    let (client_id, client_secret, dev) = match &settings.source {
        ProviderConfig::External {
            client_id,
            client_secret,
            ..
        } => (client_id.clone(), client_secret.expose().to_owned(), None),
        ProviderConfig::Development => {
            let dev = Arc::new(DevProvider::new(
                settings.issuer.as_str().to_owned(),
                redirect_uri.to_string(),
                config.public_url().authority(),
                dev_provider::signer().await?,
                clock.clone(),
            ));
            let secret = dev.client_secret().to_owned();
            (DEV_CLIENT_ID.to_owned(), secret, Some(dev))
        }
    };
    let handle = ProviderHandle::new(
        settings.issuer.clone(),
        client_id,
        client_secret,
        &redirect_uri,
        ProviderHttp::new(config.provider_timeout, metrics.clone(), id)?,
        clock.clone(),
    );
    Ok((Arc::new(handle), dev))
}

/// Every configured provider's sign-in service (and the development provider, if it is one).
async fn providers(
    config: &Config,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
    sessions: &Sessions,
) -> anyhow::Result<(Providers, Option<Arc<DevProvider>>)> {
    let mut list = Vec::new();
    let mut dev = None;
    for settings in &config.providers {
        // One small string per configured provider, for the metrics' labels.
        let id: &'static str = Box::leak(settings.id.clone().into_boxed_str());
        let (handle, built) = provider(config, settings, id, clock, metrics).await?;
        dev = dev.or(built);
        list.push(SignInService::new(settings, id, handle, sessions.clone()));
    }
    Ok((Providers::new(list), dev))
}

/// The upstream assertion's keys: the file's, or one derived from the session secret.
fn signer(config: &Config) -> anyhow::Result<Signer> {
    match &config.gateway.signing_keys {
        Some((path, pem)) => Signer::from_pem(pem)
            .map_err(|err| anyhow::anyhow!("UPSTREAM_SIGNING_KEYS_FILE: `{path}`: {err}")),
        None => Ok(Signer::derived(config.session.secret.expose())),
    }
}

/// The store `DATABASE_URL` names, opened (and, for SQLite, migrated).
fn open_store(config: &Config, now: u64) -> anyhow::Result<Store> {
    let pg = PgSettings {
        pool_size: config.store.pool_size,
        ca_file: config.store.ca_file.clone(),
        application_name: format!(
            "doorman/{}",
            crate::random::token_id().get(..8).unwrap_or("")
        ),
    };
    let store = Store::open_with(&config.accounts.database_url, now, &pg).map_err(|err| {
        anyhow::anyhow!(
            "DATABASE_URL: cannot open the store `{}`: {err}",
            crate::store::redacted(&config.accounts.database_url)
        )
    })?;
    tracing::info!(store = %store.description(), "store opened");
    Ok(store)
}

impl App {
    /// Opens the store (loading its revocations), builds the provider client (and, in
    /// development, the built-in provider). Starts nothing: see [`App::spawn_background`].
    pub async fn new(config: Config, deps: Deps) -> anyhow::Result<App> {
        let clock = deps.clock;
        let store = open_store(&config, clock.now())?;
        let metrics = Metrics::new();
        let sessions = Sessions::new(&config, &clock, &store, &metrics);
        let (sign_in, dev) = providers(&config, &clock, &metrics, &sessions).await?;
        if config.claims.refresh.is_some() {
            // `OIDC_REFRESH`: renewals recheck at the provider, through the oidc room.
            let rechecks = sign_in
                .all()
                .iter()
                .map(|p| (p.issuer.as_str().to_owned(), p.rechecker()))
                .collect();
            let _ = sessions.provider_check.set(Arc::new(Rechecks(rechecks)));
        }
        // A shared store is reached in the background (it may be down right now); SQLite,
        // opened above, is read at once.
        if !store.is_shared() {
            let loaded = sessions.load().await?;
            if loaded > 0 {
                tracing::info!(revocations = loaded, "loaded revocations from the store");
            }
        }
        let gateway = Arc::new(Gateway::new(
            &config,
            sessions.clone(),
            signer(&config)?,
            metrics.clone(),
            clock.clone(),
        ));
        Ok(App {
            gateway,
            flow_key: crate::oidc::flow::flow_cookie_key(config.session.secret.expose()),
            hasher: PasswordHasher::new(config.accounts.hash_concurrency),
            throttle: LoginThrottle::new(store.clone()),
            sign_in,
            limits: Limiters::new(&config, &metrics),
            sessions,
            store,
            clock,
            dev,
            metrics,
            config,
        })
    }

    /// Starts provider discovery and the periodic maintenance (sweeping expired state,
    /// retrying revocations the store refused).
    pub fn spawn_background(self: &Arc<Self>) {
        self.sign_in.spawn_discovery();
        if self.store.is_shared() {
            self.sessions.spawn_sync(self.config.store.revocation_poll);
        }
        let app = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(MAINTENANCE_INTERVAL);
            loop {
                tick.tick().await;
                let Some(app) = app.upgrade() else { return };
                app.maintain().await;
            }
        });
    }

    /// One round of maintenance; also run by tests.
    pub async fn maintain(&self) {
        let now = self.clock.now();
        self.sessions.flush().await;
        self.sessions.revocations.purge(now);
        self.sessions.renewals.purge(now);
        self.limits.login.purge(now);
        self.limits.register.purge(now);
        self.limits.sign_in.purge(now);
        match self
            .store
            .purge(now, now.saturating_sub(throttle::WINDOW_SECS))
            .await
        {
            Ok(purged) => tracing::debug!(?purged, "purged expired state"),
            Err(err) => tracing::warn!(error = %err, "purging expired state failed"),
        }
    }

    /// At shutdown: writes out revocations still waiting for the store, and the store itself.
    pub async fn shutdown(&self) {
        self.sessions.flush().await;
        if let Err(err) = self.store.checkpoint().await {
            tracing::warn!(error = %err, "writing out the store at shutdown failed");
        }
    }

    /// Whether the store answers a query now, within [`STORE_CHECK_TIMEOUT`]; `Err` says why
    /// not (for `/readyz` and its operator).
    pub async fn check_store(&self) -> Result<(), String> {
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(format!("the store does not answer: {err}")),
            Err(_) => Err(format!(
                "the store did not answer within {} s",
                STORE_CHECK_TIMEOUT.as_secs()
            )),
        }
    }

    pub fn https(&self) -> bool {
        self.config.public_url().is_https()
    }

    /// What password sign-in runs through: the store, the hashing threads, the throttle.
    pub fn password_check(&self) -> PasswordCheck<'_> {
        PasswordCheck {
            store: &self.store,
            hasher: &self.hasher,
            throttle: &self.throttle,
        }
    }
}
