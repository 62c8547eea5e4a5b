//! Local accounts and API clients: registration, password sign-in (JSON, HTTP Basic, or the
//! home page's form), refresh-token rotation and API sign-out.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::json::{ApiBody, ApiJson, parse_json};
use crate::AppState;
use crate::accounts::{
    self, NewLocalUser, PasswordLoginError, REFRESH_TOKEN_TTL_SECS, RefreshOutcome, StoreError,
    User, identity_of, password,
};
use crate::error::{ApiError, PageError};
use crate::session::{CurrentUser, new_jti, now_secs, session_cookie};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    username: String,
    email: String,
    password: String,
    name: String,
}

/// `POST /api/register` → 201 with the new account.
pub async fn register(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !state.config.allow_registration {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "registration is switched off here",
        ));
    }
    let username = req.username.trim();
    let email = req.email.trim();
    let name = req.name.trim();
    accounts::validate_new_account(username, email, name, &req.password)
        .map_err(|(code, message)| ApiError::bad_request(code, message))?;
    let secret = req.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&secret))
        .await
        .map_err(|e| ApiError::internal(&e.to_string()))?
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    let user = state
        .accounts
        .create_local(NewLocalUser {
            username,
            email,
            name,
            password_hash: &hash,
            roles: &[],
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict(_) => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "that username is already registered",
            ),
            other => other.into(),
        })?;
    tracing::info!(user_id = user.id, "registered a local account");
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    username: String,
    password: String,
}

#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
}

/// `Authorization: Basic` credentials, if that is what the request carries.
fn basic_credentials(headers: &HeaderMap) -> Option<Result<(String, String), ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let malformed = || ApiError::bad_request("invalid_request", "malformed Basic credentials");
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

fn login_error(err: PasswordLoginError) -> ApiError {
    match err {
        PasswordLoginError::InvalidCredentials => {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            );
            e.www_authenticate = Some(r#"Basic realm="doorman""#);
            e
        }
        PasswordLoginError::Throttled(seconds) => ApiError::too_many_attempts(seconds),
        PasswordLoginError::Store(err) => err.into(),
    }
}

/// `POST /api/login` with `{"username","password"}` or HTTP Basic → an access and a refresh token.
pub async fn password_login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<TokenResponse>, ApiError> {
    let (username, password) = match basic_credentials(&headers) {
        Some(credentials) => credentials?,
        None => {
            let req: LoginRequest = parse_json(&headers, &body)?;
            (req.username, req.password)
        }
    };
    let user = accounts::authenticate_password(
        &state.accounts,
        &state.throttle,
        &username,
        &password,
        client.ip(),
    )
    .await
    .map_err(login_error)?;
    let refresh_token = state
        .accounts
        .issue_refresh_token(user.id, REFRESH_TOKEN_TTL_SECS)
        .await?;
    tracing::info!(user_id = user.id, "password sign-in");
    Ok(Json(token_response(&state, &user, refresh_token)?))
}

fn mint_for(state: &AppState, user: &User) -> Result<(String, u64), ApiError> {
    let tokens = &state.session.tokens;
    let claims = tokens.claims_for(
        &identity_of(user, state.config.public_url.origin()),
        now_secs(),
        new_jti(),
    );
    let jwt = tokens
        .mint(&claims)
        .map_err(|e| ApiError::internal(&e.to_string()))?;
    Ok((jwt, tokens.ttl_secs()))
}

fn token_response(
    state: &AppState,
    user: &User,
    refresh_token: String,
) -> Result<TokenResponse, ApiError> {
    let (access_token, expires_in) = mint_for(state, user)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

fn invalid_grant() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_grant",
        "the refresh token is invalid, expired or revoked",
    )
}

/// `POST /api/token/refresh`: spends the refresh token and returns a new pair.
pub async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    if req.refresh_token.is_empty() || req.refresh_token.len() > 256 {
        return Err(invalid_grant());
    }
    match state
        .accounts
        .rotate_refresh_token(&req.refresh_token, REFRESH_TOKEN_TTL_SECS)
        .await?
    {
        RefreshOutcome::Rotated { user, new_token } => {
            Ok(Json(token_response(&state, &user, new_token)?))
        }
        RefreshOutcome::Invalid => Err(invalid_grant()),
        RefreshOutcome::Reused => {
            tracing::warn!(
                "a spent refresh token was presented again; its whole family is revoked"
            );
            Err(invalid_grant())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    refresh_token: Option<String>,
}

/// `POST /api/logout`: revokes the presented access token and, if given, the refresh token's
/// whole family. Signing out twice is not an error.
pub async fn api_logout(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<StatusCode, ApiError> {
    let req: LogoutRequest = if body.is_empty() {
        LogoutRequest::default()
    } else {
        parse_json(&headers, &body)?
    };
    if let Some(token) = req
        .refresh_token
        .filter(|t| !t.is_empty() && t.len() <= 256)
    {
        state.accounts.revoke_refresh_family(&token).await?;
    }
    if let Some(user) = user {
        state
            .session
            .revocations
            .revoke(&user.claims.jti, user.claims.exp, now_secs());
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/password`: the home page's sign-in form; sets the same cookie as the OpenID flow.
pub async fn form_login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !super::auth::is_same_origin(&headers, state.config.public_url.origin()) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This sign-in form was sent from another site. Use the form on this site.",
        )
        .reason("password_form_cross_origin"));
    }
    let mut username = String::new();
    let mut password = String::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "username" => username = value.into_owned(),
            "password" => password = value.into_owned(),
            _ => {}
        }
    }
    let user = accounts::authenticate_password(
        &state.accounts,
        &state.throttle,
        username.trim(),
        &password,
        client.ip(),
    )
    .await
    .map_err(|err| match err {
        PasswordLoginError::InvalidCredentials => PageError::new(
            StatusCode::UNAUTHORIZED,
            "Wrong username or password",
            "The username or password is not right. Check them and try again.",
        )
        .reason("invalid_credentials"),
        PasswordLoginError::Throttled(_) => PageError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "There were too many failed sign-in attempts. Wait a little, then try again.",
        )
        .reason("throttled"),
        PasswordLoginError::Store(err) => err.into(),
    })?;
    let (jwt, ttl) =
        mint_for(&state, &user).map_err(|e| PageError::internal(e.message.into_owned()))?;
    tracing::info!(user_id = user.id, "password sign-in (form)");
    Ok((
        CookieJar::new().add(session_cookie(jwt, ttl, state.https())),
        Redirect::to("/"),
    )
        .into_response())
}
