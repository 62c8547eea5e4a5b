//! doorman: sign in with Google (or any OpenID Connect provider) and stay signed in with a
//! short-lived HS256 JWT in an HttpOnly cookie, or as a Bearer token for scripts and services.
//!
//! `build_router` is the seam that `main` and the integration tests share.

pub mod accounts;
pub mod cli;
pub mod config;
pub mod dev_provider;
pub mod error;
pub mod oidc;
pub mod routes;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use axum_extra::extract::cookie::Key;
use tokio::net::TcpListener;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

use crate::accounts::{AccountStore, LoginThrottle};
use crate::config::{Config, ProviderConfig};
use crate::dev_provider::{DEV_CLIENT_ID, DevProvider};
use crate::error::{REQUEST_CONTEXT, RequestContext};
use crate::oidc::http::ProviderHttp;
use crate::oidc::provider::ProviderHandle;
use crate::oidc::{Oidc, UsedStates};
use crate::session::{InMemoryRevocations, SessionState, SessionTokens};

/// Requests carry no bodies bigger than a form; refuse anything larger early.
const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' https:; \
     frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub session: SessionState,
    pub oidc: Arc<Oidc>,
    pub flow_key: Key,
    pub provider_name: &'static str,
    pub accounts: AccountStore,
    pub throttle: Arc<LoginThrottle>,
}

impl AppState {
    pub fn https(&self) -> bool {
        self.config.public_url.is_https()
    }
}

impl FromRef<AppState> for SessionState {
    fn from_ref(state: &AppState) -> Self {
        state.session.clone()
    }
}

impl FromRef<AppState> for Key {
    fn from_ref(state: &AppState) -> Self {
        state.flow_key.clone()
    }
}

/// Builds the whole application: state, routes, middleware, and (in development mode) the
/// built-in provider. Starts background discovery of the identity provider.
pub async fn build_router(config: Config) -> anyhow::Result<Router> {
    let config = Arc::new(config);
    let accounts = AccountStore::open(&config.database_url).map_err(|err| {
        anyhow::anyhow!(
            "DATABASE_URL: cannot open the accounts store `{}`: {err}",
            config.database_url
        )
    })?;
    let http = ProviderHttp::new(config.provider_timeout)?;
    let issuer_url = config.issuer_url();
    let issuer = issuer_url.as_str().trim_end_matches('/').to_owned();

    let (client_id, client_secret, dev) = match &config.provider {
        ProviderConfig::External {
            client_id,
            client_secret,
            ..
        } => (client_id.clone(), client_secret.0.clone(), None),
        ProviderConfig::Development => {
            let dev = Arc::new(DevProvider::new(
                issuer.clone(),
                config.redirect_uri().to_string(),
                dev_provider::signer().await?,
            ));
            (
                DEV_CLIENT_ID.to_owned(),
                dev.client_secret().to_owned(),
                Some(dev),
            )
        }
    };
    let provider = Arc::new(ProviderHandle::new(
        &issuer_url,
        client_id,
        client_secret,
        &config.redirect_uri(),
        http,
    )?);
    provider.clone().spawn_discovery();

    let provider_name = match &config.provider {
        ProviderConfig::Development => "the development provider",
        ProviderConfig::External { issuer, .. }
            if issuer.as_str().trim_end_matches('/') == config::GOOGLE_ISSUER =>
        {
            "Google"
        }
        ProviderConfig::External { .. } => "your identity provider",
    };
    let state = AppState {
        session: SessionState {
            tokens: Arc::new(SessionTokens::new(&config)),
            revocations: Arc::new(InMemoryRevocations::default()),
            https: config.public_url.is_https(),
        },
        oidc: Arc::new(Oidc {
            provider,
            used_states: UsedStates::default(),
            issuer,
        }),
        flow_key: oidc::flow::flow_cookie_key(config.session_secret.expose()),
        provider_name,
        accounts,
        throttle: Arc::new(LoginThrottle::default()),
        config,
    };

    let api = Router::new()
        .route("/user", get(routes::api::current_user))
        .route("/protected", get(routes::api::protected))
        .route("/register", post(routes::accounts::register))
        .route("/login", post(routes::accounts::password_login))
        .route("/token/refresh", post(routes::accounts::refresh))
        .route("/logout", post(routes::accounts::api_logout))
        .route("/admin/users", get(routes::admin::list_users))
        .route("/admin/users/{id}/roles", put(routes::admin::set_roles))
        .route("/admin/users/{id}", delete(routes::admin::delete_user))
        .fallback(routes::api::not_found)
        .method_not_allowed_fallback(routes::pages::method_not_allowed);

    let mut app = Router::new()
        .route("/", get(routes::pages::home))
        .route("/profile", get(routes::pages::profile))
        .route("/admin", get(routes::admin::admin_page))
        .route("/auth/password", post(routes::accounts::form_login))
        .route("/healthz", get(routes::health::healthz))
        .route("/auth/login", get(routes::auth::start_login))
        .route("/auth/callback", get(routes::auth::finish_login))
        .route(
            "/auth/logout",
            get(routes::auth::confirm_logout).post(routes::auth::logout),
        )
        .nest("/api", api)
        .nest_service(
            "/static",
            ServeDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/static")),
        )
        .fallback(routes::pages::not_found)
        .method_not_allowed_fallback(routes::pages::method_not_allowed);
    if let Some(dev) = dev {
        app = app.nest("/dev-oidc", dev.router());
    }
    Ok(app
        .with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, request_envelope))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .layer(
            // Paths only: query strings carry codes and states, which never reach the log.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        ))
}

/// Per request: a request id (in the page, the JSON error and `X-Request-Id`), the context
/// error pages render with, and the security headers every response carries.
async fn request_envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = session::new_jti()[..16].to_owned();
    let path = request.uri().path().to_owned();
    let ctx = RequestContext {
        request_id: request_id.clone(),
        development: state.config.is_development(),
    };
    let mut response = REQUEST_CONTEXT.scope(ctx, next.run(request)).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        headers.insert("x-request-id", value);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`, on pages: under `no-referrer` browsers send
    // `Origin: null` with same-site form posts, and the sign-out check could not tell them
    // from a forged one. Sign-in URLs carry codes and states, so they never leave a referrer.
    let referrer_policy = if path.starts_with("/auth/login") || path.starts_with("/auth/callback") {
        "no-referrer"
    } else {
        "same-origin"
    };
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(referrer_policy),
    );
    let private = ["/auth/", "/api/", "/profile", "/admin", "/dev-oidc/"]
        .iter()
        .any(|p| path.starts_with(p));
    if private || headers.contains_key(header::SET_COOKIE) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
    response
}

/// Serves until Ctrl-C or SIGTERM.
pub async fn serve(listener: TcpListener, config: Config) -> anyhow::Result<()> {
    let app = build_router(config).await?;
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}
