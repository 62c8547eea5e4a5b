//! Signing in from a terminal (RFC 8628), the terminal's side: `POST /auth/device` starts a
//! request and gives the terminal its codes, `POST /auth/device/token` is where it polls until
//! it receives a token pair (and refreshes it), `POST /auth/revoke` ends it. The person's side,
//! `/device`, is `routes::device_page`; the grant itself is `accounts::device`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::accounts::token_response;
use super::json::ApiBody;
use super::outcomes::{login_failed, login_failed_because, login_succeeded};
use crate::accounts::device::{self, CLI_CLIENT_ID, Polled, Requester};
use crate::accounts::{self, Refreshed, TokenPair};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, AppError};
use crate::net::ClientIp;
use crate::session::Authorization;
use crate::telemetry::events::{self, LoginMethod};

/// The grant type a terminal polls with.
const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

#[derive(Serialize)]
pub(super) struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: u64,
    interval: u64,
}

fn oauth_error(status: StatusCode, code: &'static str, message: &'static str) -> ApiError {
    ApiError::from(AppError::new(status, code, message).oauth())
}

/// The fields of an OAuth form body: only `application/x-www-form-urlencoded` (an empty body
/// may have none), each field at most once (RFC 6749 §3.2).
fn form_fields(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, ApiError> {
    let urlencoded = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !urlencoded && !body.is_empty() {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "a field is repeated; send each once",
        ));
    }
    Ok(fields)
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// A `client_id`, when sent, must be doorman's own CLI (the only client).
fn check_client(fields: &[(String, String)]) -> Result<(), ApiError> {
    match field(fields, "client_id") {
        None => Ok(()),
        Some(id) if id == CLI_CLIENT_ID => Ok(()),
        Some(_) => Err(oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client_id: the only client is doorman-cli (or send none)",
        )),
    }
}

/// `POST /auth/device` → the terminal's codes and where the person approves them.
pub(super) async fn start(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<Response> {
    let fields = form_fields(&headers, &body)?;
    check_client(&fields)?;
    let now = state.clock.now();
    state
        .limits
        .sign_in
        .check(client, now)
        .map_err(|wait| ApiError::from(AppError::rate_limited(wait)))?;
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(none sent)");
    let requester = Requester {
        address: client.to_string(),
        agent,
    };
    let started = device::start(&state.store, requester, now).await?;
    events::device_code_issued(&state.metrics, client);
    let public = state.config.public_url().origin();
    let shown = device::display(&started.user_code);
    let body = DeviceAuthorization {
        device_code: started.device_code,
        verification_uri: format!("{public}/device"),
        verification_uri_complete: format!("{public}/device?code={shown}"),
        user_code: shown,
        expires_in: device::DEVICE_CODE_TTL_SECS,
        interval: device::POLL_INTERVAL_SECS,
    };
    Ok(Json(body).into_response())
}

/// `POST /auth/device/token`: RFC 8628 §3.4/§3.5 — pending, slow down, denied, expired,
/// invalid, or `/api/login`'s token pair; and `grant_type=refresh_token` (RFC 6749 §6), so
/// that a terminal needs no path outside `/auth/` (which every proxy setup sends to doorman).
pub(super) async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<Response> {
    let fields = form_fields(&headers, &body)?;
    check_client(&fields)?;
    match field(&fields, "grant_type") {
        Some(DEVICE_GRANT) => {}
        Some("refresh_token") => return refresh(&state, &fields).await,
        Some(_) => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "this endpoint serves urn:ietf:params:oauth:grant-type:device_code and refresh_token",
            ));
        }
        None => {
            return Err(oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing",
            ));
        }
    }
    let Some(device_code) = field(&fields, "device_code").filter(|c| !c.is_empty()) else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "device_code is missing",
        ));
    };
    let now = state.clock.now();
    let issuer = state.config.public_url().origin();
    let polled = device::poll(
        &state.store,
        &state.sessions,
        device_code,
        issuer,
        &state,
        now,
    )
    .await?;
    let refused = |result, code, message| {
        state.metrics.device_grant(result);
        Err(oauth_error(StatusCode::BAD_REQUEST, code, message))
    };
    match polled {
        Polled::Pending => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "authorization_pending",
            "the person has not approved this request yet; poll again after the interval",
        )),
        Polled::SlowDown => Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "slow_down",
            "polled too often: wait 5 seconds longer between polls from now on",
        )),
        Polled::Denied => refused(
            "denied_polled",
            "access_denied",
            "the person denied this request",
        ),
        Polled::Expired => refused(
            "expired",
            "expired_token",
            "the request expired before it was approved; start again",
        ),
        Polled::Invalid => refused(
            "invalid",
            "invalid_grant",
            "unknown or already used device code",
        ),
        Polled::Tokens(pair) => {
            let pair: TokenPair = *pair;
            state.metrics.device_grant("tokens");
            let provider = state
                .sign_in
                .by_issuer(&pair.access.claims.idp)
                .map_or(crate::config::LOCAL_PROVIDER_ID, |p| p.id);
            login_succeeded(
                &state,
                LoginMethod::Device(provider),
                &pair.access.claims.sub,
            );
            Ok(Json(token_response(&state, pair)).into_response())
        }
    }
}

/// `grant_type=refresh_token`: the same rotation as `/api/token/refresh`, answered in
/// OAuth's form (`400 invalid_grant` for a token that is unknown, expired, revoked or reused).
async fn refresh(state: &AppState, fields: &[(String, String)]) -> ApiResult<Response> {
    let Some(token) = field(fields, "refresh_token").filter(|t| !t.is_empty() && t.len() <= 256)
    else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "refresh_token is missing",
        ));
    };
    let issuer = state.config.public_url().origin();
    let now = state.clock.now();
    let refreshed =
        accounts::refresh_api_session(&state.store, &state.sessions, token, issuer, state, now)
            .await?;
    let invalid = || {
        oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "the refresh token is invalid, expired or revoked",
        )
    };
    match refreshed {
        Refreshed::Pair(pair) => {
            login_succeeded(state, LoginMethod::Refresh, &pair.access.claims.sub);
            Ok(Json(token_response(state, *pair)).into_response())
        }
        Refreshed::Invalid => Err(login_failed(state, LoginMethod::Refresh, invalid())),
        Refreshed::Reused => {
            events::token_reuse_detected(&state.metrics, 1);
            Err(login_failed_because(
                state,
                LoginMethod::Refresh,
                Some("token_reused"),
                invalid(),
            ))
        }
    }
}

#[derive(Serialize)]
pub(super) struct Revoked {
    revoked: bool,
}

/// `POST /auth/revoke` (RFC 7009): form `token` (a refresh token or an access token of doorman)
/// → `200 {"revoked":true}`, whether or not the token was known (the RFC's rule: nothing is
/// learned by asking); the session the token belongs to is ended, every token of it with it.
pub(super) async fn revoke(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<Response> {
    let fields = form_fields(&headers, &body)?;
    check_client(&fields)?;
    let Some(token) = field(&fields, "token").filter(|t| !t.is_empty()) else {
        return Err(oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "token is missing",
        ));
    };
    let now = state.clock.now();
    state
        .limits
        .sign_in
        .check(client, now)
        .map_err(|wait| ApiError::from(AppError::rate_limited(wait)))?;
    if token.len() <= 256 {
        accounts::end_session_of_refresh_token(&state.store, &state.sessions, token, now).await?;
    }
    let mut bearer = HeaderMap::new();
    if let Ok(value) = header::HeaderValue::from_str(&format!("Bearer {token}")) {
        bearer.insert(header::AUTHORIZATION, value);
    }
    if let Some(caller) = state.sessions.identify(&bearer, Authorization::Bearer, now) {
        state.sessions.end(&caller.claims).await;
        events::logout(&state.metrics, caller.claims.sub());
    }
    Ok(Json(Revoked { revoked: true }).into_response())
}
