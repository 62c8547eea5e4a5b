//! The gateway's HTTP face: `/.doorman/auth-request/{policy}` (nginx; never a 3xx),
//! `/.doorman/forward-auth/{policy}` (Traefik, Caddy; 302/303 to sign in for navigations),
//! the public keys at `/.well-known/jwks.json`, and `/.well-known/doorman`. The policy is in
//! the path and the query string is never read, so a client cannot choose a weaker policy.
//! These answers never set a cookie. An allow answer also says what the service may have of
//! the client's `Cookie` and `Authorization` (`passthrough`).

mod passthrough;

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use serde_json::json;

use super::api::json;
use crate::app::AppState;
use crate::error::context::context;
use crate::error::{AppError, PageError};
use crate::gateway::identity::{self, Identity};
use crate::gateway::{Ask, Decision, Endpoint, Target, decide};
use crate::net::peer;

/// The endpoint of one configured policy, its name fixed in the route: the hot path matches a
/// static path and decodes no parameter (the `{policy}` routes answer names not configured).
pub fn for_policy(endpoint: Endpoint, name: &str) -> MethodRouter<AppState> {
    let name: Arc<str> = Arc::from(name);
    get(move |State(state): State<AppState>, request: Request| {
        let name = name.clone();
        async move { answer(&state, endpoint, &name, request.headers()) }
    })
}

/// `GET /.doorman/auth-request/{policy}`.
pub async fn auth_request(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    request: Request,
) -> Response {
    answer(&state, Endpoint::AuthRequest, &policy, request.headers())
}

/// `GET /.doorman/forward-auth/{policy}`.
pub async fn forward_auth(
    State(state): State<AppState>,
    Path(policy): Path<String>,
    request: Request,
) -> Response {
    answer(&state, Endpoint::ForwardAuth, &policy, request.headers())
}

fn answer(
    state: &AppState,
    endpoint: Endpoint,
    policy_name: &str,
    headers: &HeaderMap,
) -> Response {
    let policy = state.config.gateway.policies.get(policy_name);
    let decision = decide(
        &Ask {
            endpoint,
            policy_name,
            policy,
            // No known peer (the router called in-process) is never a trusted proxy.
            trusted_peer: peer().is_some_and(|p| state.config.server.trusted_proxies.contains(p)),
            headers,
            now: state.clock.now(),
        },
        &state.sessions,
    );
    let (verdict, reason) = decision.labels();
    state
        .metrics
        .authz_decision(endpoint.label(), verdict, reason);
    match decision {
        Decision::Allow {
            caller,
            target,
            reason,
        } => {
            let audience = policy
                .and_then(|p| p.audience.as_deref())
                .map_or_else(|| target.origin(), Cow::Borrowed);
            // A preflight carries no credentials to the service: none of the client's either.
            let passed = (reason != "preflight").then_some(headers);
            allow(
                state,
                caller.as_deref().map(|c| &c.claims),
                &audience,
                passed,
            )
        }
        Decision::Unauthenticated {
            target,
            reason,
            bearer,
            navigation,
        } => unauthenticated(state, endpoint, &target, reason, bearer, navigation),
        Decision::Forbidden {
            reason,
            required,
            navigation,
        } => forbidden(endpoint, reason, &required, navigation),
        Decision::Unavailable => unavailable(),
        Decision::BadRequest {
            error,
            message,
            missing,
        } => {
            let mut response = json(&json!({
                "error": error,
                "message": message,
                "missing": missing,
                "request_id": context().request_id.as_str(),
            }));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            tracing::warn!(reason = error, %message, "gateway request refused");
            response
        }
    }
}

/// The identity headers for `claims` (empty ones for an anonymous caller), the assertion for
/// `audience` included; reused for 30 s per token and audience.
pub(super) fn identity_for(
    state: &AppState,
    claims: Option<&crate::session::Claims>,
    audience: &str,
) -> Result<identity::Headers, usize> {
    let sets = state.config.gateway.identity_headers;
    match claims {
        None => identity::headers(
            sets,
            &Identity {
                claims: None,
                assertion: None,
            },
        )
        .map(Into::into),
        Some(claims) => {
            let now = state.clock.now();
            state
                .identities
                .get_or_build(claims.jti(), audience, now, || {
                    let assertion = state.signer.sign(
                        claims,
                        state.config.public_url().origin(),
                        audience,
                        now,
                    );
                    state.metrics.assertion_signed();
                    identity::headers(
                        sets,
                        &Identity {
                            claims: Some(claims),
                            assertion: Some(&assertion),
                        },
                    )
                })
        }
    }
}

/// A 500 for identity headers that would not fit a proxy's header buffer.
pub(super) fn identity_too_large(size: usize) -> Response {
    let err = AppError::internal(format!(
        "the identity headers would take {size} bytes (limit {})",
        identity::MAX_IDENTITY_BYTES
    ));
    crate::error::ApiError::from(err).into_response()
}

/// 200 with the identity headers (empty for an anonymous caller), and the client's `Cookie`
/// and `Authorization` as the service may have them (`X-Doorman-Cookie`,
/// `X-Doorman-Authorization`, empty when nothing is left, or when `request` is `None`: a
/// preflight carries no credentials).
fn allow(
    state: &AppState,
    claims: Option<&crate::session::Claims>,
    audience: &str,
    request: Option<&HeaderMap>,
) -> Response {
    match identity_for(state, claims, audience) {
        Ok(headers) => {
            let mut response = StatusCode::OK.into_response();
            let map = response.headers_mut();
            map.reserve(headers.len() + 2);
            for (name, value) in headers.iter() {
                map.insert(name.clone(), value.clone());
            }
            let (cookie, authorization) = request.map_or_else(
                || (passthrough::EMPTY, passthrough::EMPTY),
                |h| {
                    (
                        passthrough::app_cookie(h),
                        passthrough::app_authorization(h),
                    )
                },
            );
            map.insert(passthrough::X_DOORMAN_COOKIE, cookie);
            map.insert(passthrough::X_DOORMAN_AUTHORIZATION, authorization);
            response
        }
        Err(size) => identity_too_large(size),
    }
}

/// Where a browser signs in and comes back to `target`.
fn login_url(state: &AppState, target: &Target) -> String {
    let rd: String = url::form_urlencoded::byte_serialize(target.url.as_str().as_bytes()).collect();
    format!("{}/auth/login?rd={rd}", state.config.public_url().origin())
}

pub(super) fn unauthenticated(
    state: &AppState,
    endpoint: Endpoint,
    target: &Target,
    reason: &'static str,
    bearer: bool,
    navigation: bool,
) -> Response {
    let login = login_url(state, target);
    if navigation && endpoint.may_redirect() {
        // 303 for a navigation that was not GET/HEAD: the browser comes back with GET.
        let status = if matches!(target.method.as_str(), "GET" | "HEAD") {
            StatusCode::FOUND
        } else {
            StatusCode::SEE_OTHER
        };
        let mut response = status.into_response();
        if let Ok(location) = HeaderValue::from_str(&login) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        return response;
    }
    let (error, description) = match (bearer, reason) {
        (true, "token_expired") => ("invalid_token", "token expired"),
        (true, "revoked") => ("invalid_token", "session ended"),
        (true, _) => ("invalid_token", "invalid token"),
        (false, "token_expired") => ("token_expired", "the session expired; sign in again"),
        (false, _) => (
            "unauthenticated",
            "sign in first, or send Authorization: Bearer <token>",
        ),
    };
    let challenge = if bearer {
        format!(
            r#"Bearer realm="doorman", error="invalid_token", error_description="{description}""#
        )
    } else {
        r#"Bearer realm="doorman""#.to_owned()
    };
    let mut response = json(&json!({
        "error": error,
        "message": description,
        "login_url": login,
        "request_id": context().request_id.as_str(),
    }));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&challenge) {
        headers.insert(header::WWW_AUTHENTICATE, value);
    }
    // nginx cannot pass on a 3xx, so a navigation's 401 says where to go.
    if navigation && let Ok(location) = HeaderValue::from_str(&login) {
        headers.insert(header::LOCATION, location);
    }
    response
}

pub(super) fn forbidden(
    endpoint: Endpoint,
    reason: &'static str,
    required: &[String],
    navigation: bool,
) -> Response {
    let message = match reason {
        "role_required" => "your account does not have a role this service requires",
        _ => "your account's email is not allowed to use this service",
    };
    if navigation && endpoint.may_redirect() {
        return PageError::from(AppError::forbidden(reason, message).page(
            "Not allowed",
            "You are signed in, but your account may not use this service. Ask an administrator.",
        ))
        .into_response();
    }
    let mut response = json(&json!({
        "error": "forbidden",
        "reason": reason,
        "required": required,
        "message": message,
        "request_id": context().request_id.as_str(),
    }));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
}

/// 503: whether the session was ended cannot be told yet.
pub(super) fn unavailable() -> Response {
    crate::error::ApiError::from(AppError::from(crate::session::SessionProblem::Unavailable))
        .into_response()
}

/// `GET /.well-known/jwks.json`: the keys that verify `X-Doorman-Jwt-Assertion`.
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut response = Json(state.signer.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/doorman`: where the gateway's endpoints and keys are (not an OpenID
/// provider configuration: doorman is not one).
pub async fn metadata(State(state): State<AppState>) -> Json<serde_json::Value> {
    let origin = state.config.public_url().origin();
    Json(json!({
        "issuer": origin,
        "jwks_uri": format!("{origin}/.well-known/jwks.json"),
        "auth_request": format!("{origin}/.doorman/auth-request/{{policy}}"),
        "forward_auth": format!("{origin}/.doorman/forward-auth/{{policy}}"),
        "policies": state.config.gateway.policies.keys().collect::<Vec<_>>(),
        "assertion_header": "X-Doorman-Jwt-Assertion",
        "assertion_alg": "ES256",
    }))
}
