//! The gateway's HTTP face, thin: `/.doorman/auth-request/{policy}` (nginx; never a 3xx) and
//! `/.doorman/forward-auth/{policy}` (Traefik, Caddy; 302/303 to sign in for navigations)
//! hand the request's headers to `Gateway::forward_auth`; the public keys at
//! `/.well-known/jwks.json`, and `/.well-known/doorman`. The policy is in the path and the
//! query string is never read, so a client cannot choose a weaker policy. These answers never
//! set a cookie.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;

use crate::app::AppState;
use crate::gateway::Endpoint;

/// The endpoint of one configured policy, its name fixed in the route: the hot path matches a
/// static path and decodes no parameter (the `{policy}` routes answer names not configured).
pub(super) fn for_policy(endpoint: Endpoint, name: &str) -> MethodRouter<AppState> {
    let name: Arc<str> = Arc::from(name);
    get(move |State(state): State<AppState>, request: Request| {
        let name = name.clone();
        async move {
            state
                .gateway
                .forward_auth(endpoint, &name, request.headers())
                .await
        }
    })
}

/// `GET /.doorman/auth-request/{policy}`.
pub(super) async fn auth_request(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    request: Request,
) -> Response {
    state
        .gateway
        .forward_auth(Endpoint::AuthRequest, &policy, request.headers())
        .await
}

/// `GET /.doorman/forward-auth/{policy}`.
pub(super) async fn forward_auth(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    request: Request,
) -> Response {
    state
        .gateway
        .forward_auth(Endpoint::ForwardAuth, &policy, request.headers())
        .await
}

/// `GET /.well-known/jwks.json`: the keys that verify `X-Doorman-Jwt-Assertion`.
pub(super) async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.gateway.signer.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/doorman`: where the gateway's endpoints and keys are (not an OpenID
/// provider configuration: doorman is not one).
pub(super) async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let origin = state.config.public_url().origin();
    Json(json!({
        "issuer": origin,
        "jwks_uri": format!("{origin}/.well-known/jwks.json"),
        "auth_request": format!("{origin}/.doorman/auth-request/{{policy}}"),
        "forward_auth": format!("{origin}/.doorman/forward-auth/{{policy}}"),
        "policies": state.gateway.policies.keys().collect::<Vec<_>>(),
        "assertion_header": "X-Doorman-Jwt-Assertion",
        "assertion_alg": "ES256",
    }))
}
