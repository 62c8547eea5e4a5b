//! doorman: sign in with Google (or any OpenID Connect provider) and stay signed in with a
//! short-lived HS256 JWT in an HttpOnly cookie, or as a Bearer token for scripts and services.
//!
//! `App::new(config, deps)` composes the parts; `build_router(state)` is the HTTP surface
//! (no side effects); `server::serve` runs it. `main` and the integration tests share all three.

pub mod accounts;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dev_provider;
pub mod error;
pub mod identity;
pub mod net;
pub mod oidc;
pub mod random;
pub mod routes;
pub mod server;
pub mod session;
pub mod store;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;

pub use app::{App, AppState, Deps};

use crate::error::{REQUEST_CONTEXT, RequestContext};

/// Requests carry no bodies bigger than a form; refuse anything larger early.
const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' https:; \
     frame-ancestors 'none'; object-src 'none'; base-uri 'none'";

/// The whole HTTP surface of `state`: routes, fallbacks and the per-request envelope.
pub fn build_router(state: AppState) -> Router {
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
    if let Some(dev) = &state.dev {
        app = app.nest("/dev-oidc", dev.clone().router());
    }
    app.with_state(state.clone())
        .layer(middleware::from_fn_with_state(state, request_envelope))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BODY_BYTES))
        .layer(
            // Paths only: query strings carry codes and states, which never reach the log.
            TraceLayer::new_for_http().make_span_with(|req: &Request| {
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path())
            }),
        )
}

/// Per request: a request id (in the page, the JSON error and `X-Request-Id`), the context
/// error pages render with, and the security headers every response carries.
async fn request_envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = crate::random::RequestId::next().to_string();
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
    // Every answer but the stylesheet may be personal (pages show who is signed in, the API
    // answers with identities and tokens): none may be stored by a cache.
    if !path.starts_with("/static/") {
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
