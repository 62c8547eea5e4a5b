//! Local accounts and API clients: registration, password sign-in (JSON or HTTP Basic),
//! refresh-token rotation and API sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::json::{ApiBody, ApiJson, parse_json};
use super::outcomes::{login_failed, login_failed_because, login_succeeded};
use crate::accounts::{self, Refreshed, Registration, TokenPair};
use crate::app::AppState;
use crate::error::{ApiError, ApiResult, AppError};
use crate::net::ClientIp;
use crate::session::{Authorization, TokenSource, is_same_origin};
use crate::store::User;
use crate::telemetry::events::{self, LoginMethod};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterRequest {
    username: String,
    email: String,
    password: String,
    name: String,
}

/// `POST /api/register` → 201 with the new account.
pub(super) async fn register(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<User>)> {
    if !state.config.accounts.allow_registration {
        return Err(ApiError::from(AppError::forbidden(
            "registration_closed",
            "registration is switched off here",
        )));
    }
    state
        .limits
        .register
        .check(client, state.clock.now())
        .map_err(|wait| ApiError::from(AppError::rate_limited(wait)))?;
    let registration = Registration {
        username: req.username.trim(),
        email: req.email.trim(),
        name: req.name.trim(),
        password: req.password,
    };
    let user = accounts::register(
        &state.store,
        &state.hasher,
        &state.config.access,
        registration,
        state.clock.now(),
    )
    .await?;
    tracing::info!(user_id = user.id, "registered a local account");
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
pub(super) struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

/// `Authorization: Basic` credentials, if that is what the request carries.
fn basic_credentials(headers: &HeaderMap) -> Option<ApiResult<(String, String)>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let malformed = || {
        ApiError::from(AppError::bad_request(
            "invalid_request",
            "malformed Basic credentials",
        ))
    };
    Some(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| {
                text.split_once(':')
                    .map(|(u, p)| (u.to_owned(), p.to_owned()))
            })
            .ok_or_else(malformed),
    )
}

/// `POST /api/login` with `{"username","password"}` or HTTP Basic → an access and a refresh token.
pub(super) async fn password_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<Json<TokenResponse>> {
    let (username, password) = match basic_credentials(&headers) {
        Some(credentials) => credentials?,
        None => {
            let req: LoginRequest = parse_json(&headers, &body)?;
            (req.username, req.password)
        }
    };
    state
        .limits
        .login
        .check(client, state.clock.now())
        .map_err(|wait| ApiError::from(AppError::rate_limited(wait)))?;
    let now = state.clock.now();
    let user =
        accounts::authenticate_password(state.password_check(), &username, password, client, now)
            .await
            .map_err(|err| {
                let err = AppError::from(err);
                let basic_challenge = err.code == "invalid_credentials";
                let err = ApiError::from(if basic_challenge {
                    err.challenge(r#"Basic realm="doorman""#)
                } else {
                    err
                });
                login_failed(&state, LoginMethod::Password, err)
            })?;
    let issuer = state.config.public_url().origin();
    let pair =
        accounts::start_api_session(&state.store, &state.sessions, &user, issuer, now).await?;
    login_succeeded(&state, LoginMethod::Password, &pair.access.claims.sub);
    Ok(Json(token_response(&state, pair)))
}

pub(super) fn token_response(state: &AppState, pair: TokenPair) -> TokenResponse {
    TokenResponse {
        access_token: pair.access.token,
        token_type: "Bearer",
        expires_in: state.sessions.tokens.ttl_secs(),
        refresh_token: pair.refresh_token,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RefreshRequest {
    refresh_token: String,
}

fn invalid_grant() -> ApiError {
    ApiError::from(AppError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "the refresh token is invalid, expired or revoked",
    ))
}

/// `POST /api/token/refresh`: spends the refresh token and returns a new pair.
pub(super) async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(invalid_grant());
    }
    let issuer = state.config.public_url().origin();
    let (store, sessions, now) = (&state.store, &state.sessions, state.clock.now());
    let roles = &state;
    match accounts::refresh_api_session(store, sessions, &req.refresh_token, issuer, roles, now)
        .await?
    {
        Refreshed::Pair(pair) => {
            login_succeeded(&state, LoginMethod::Refresh, &pair.access.claims.sub);
            Ok(Json(token_response(&state, *pair)))
        }
        Refreshed::Invalid => Err(login_failed(&state, LoginMethod::Refresh, invalid_grant())),
        Refreshed::Reused => {
            events::token_reuse_detected(&state.metrics, 1);
            Err(login_failed_because(
                &state,
                LoginMethod::Refresh,
                Some("token_reused"),
                invalid_grant(),
            ))
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct LogoutRequest {
    refresh_token: Option<String>,
}

/// `POST /api/logout`: ends the session of the presented access token (its refresh tokens
/// too), and, if given, the session of a refresh token. A request authenticated by the
/// browser's cookie must come from this site. Signing out twice is not an error.
pub(super) async fn api_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> ApiResult<StatusCode> {
    // Verified, not checked against the revocation set: signing out works while the store
    // is unreachable (the revocation waits in the outbox) and twice is harmless.
    let sessions = &state.sessions;
    let user = sessions.identify(&headers, Authorization::Bearer, sessions.clock.now());
    let by_cookie = user
        .as_ref()
        .is_some_and(|u| u.source == TokenSource::Cookie);
    if by_cookie && !is_same_origin(&headers, state.config.public_url().origin()) {
        return Err(ApiError::from(AppError::forbidden(
            "cross_origin",
            "a sign-out with the session cookie must come from this site",
        )));
    }
    let req: LogoutRequest = if body.is_empty() {
        LogoutRequest::default()
    } else {
        parse_json(&headers, &body)?
    };
    if let Some(token) = req
        .refresh_token
        .filter(|t| !t.is_empty() && t.len() <= 256)
    {
        let now = state.clock.now();
        accounts::end_session_of_refresh_token(&state.store, &state.sessions, &token, now).await?;
    }
    if let Some(user) = user {
        state.sessions.end(&user.claims).await;
        events::logout(&state.metrics, user.claims.sub());
    }
    Ok(StatusCode::NO_CONTENT)
}
