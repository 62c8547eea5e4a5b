//! Local accounts and API clients: registration, password sign-in (JSON, HTTP Basic, or the
//! home page's form), refresh-token rotation and API sign-out.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::json::{ApiBody, ApiJson, parse_json};
use crate::AppState;
use crate::accounts::{
    self, HashError, PasswordCheck, PasswordLoginError, REFRESH_TOKEN_TTL_SECS, Registration,
    RegistrationError, identity_of,
};
use crate::error::{ApiError, PageError};
use crate::net::ClientIp;
use crate::session::{CurrentUser, SessionError, TokenSource, session_cookie};
use crate::store::{RefreshOutcome, User};

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
    ClientIp(client): ClientIp,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    if !state.config.accounts.allow_registration {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_closed",
            "registration is switched off here",
        ));
    }
    state
        .limits
        .register
        .check(client, state.clock.now())
        .map_err(ApiError::rate_limited)?;
    let user = accounts::register(
        &state.store,
        &state.hasher,
        &state.config.access,
        Registration {
            username: req.username.trim(),
            email: req.email.trim(),
            name: req.name.trim(),
            password: req.password,
        },
        state.clock.now(),
    )
    .await
    .map_err(|err| match err {
        RegistrationError::Invalid(code, message) => ApiError::bad_request(code, message),
        RegistrationError::NotAllowed => ApiError::new(
            StatusCode::FORBIDDEN,
            "registration_not_allowed",
            "this email is not one that may register here",
        ),
        RegistrationError::Taken => ApiError::new(
            StatusCode::CONFLICT,
            "username_taken",
            "that username is already registered",
        ),
        RegistrationError::Hashing(err) => hashing_error(err),
        RegistrationError::Store(err) => err.into(),
    })?;
    tracing::info!(user_id = user.id, "registered a local account");
    Ok((StatusCode::CREATED, Json(user)))
}

fn hashing_error(err: HashError) -> ApiError {
    match err {
        HashError::Busy => ApiError::busy(2),
        HashError::Failed(reason) => ApiError::internal(&reason),
    }
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
        PasswordLoginError::PasswordTooLong => {
            ApiError::bad_request("invalid_request", "the password is longer than 1024 bytes")
        }
        PasswordLoginError::Throttled(seconds) => ApiError::too_many_attempts(seconds),
        PasswordLoginError::Hashing(err) => hashing_error(err),
        PasswordLoginError::Store(err) => err.into(),
    }
}

fn session_error(err: SessionError) -> ApiError {
    match err {
        SessionError::Store(err) => err.into(),
        SessionError::Mint(reason) => ApiError::internal(&reason),
    }
}

/// `POST /api/login` with `{"username","password"}` or HTTP Basic → an access and a refresh token.
pub async fn password_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
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
    state
        .limits
        .login
        .check(client, state.clock.now())
        .map_err(ApiError::rate_limited)?;
    let user = accounts::authenticate_password(
        password_check(&state),
        &username,
        password,
        client,
        state.clock.now(),
    )
    .await
    .map_err(login_error)?;
    let identity = identity_of(&user, state.config.public_url().origin());
    let now = state.clock.now();
    let minted = state
        .session
        .start(&identity, Some(now + REFRESH_TOKEN_TTL_SECS))
        .await
        .map_err(session_error)?;
    let sid = minted.claims.sid.clone().unwrap_or_default();
    let refresh_token = state
        .store
        .issue_refresh_token(user.id, &sid, REFRESH_TOKEN_TTL_SECS, now)
        .await?;
    tracing::info!(user_id = user.id, "password sign-in");
    Ok(Json(TokenResponse {
        access_token: minted.token,
        token_type: "Bearer",
        expires_in: state.session.tokens.ttl_secs(),
        refresh_token,
    }))
}

fn password_check(state: &AppState) -> PasswordCheck<'_> {
    PasswordCheck {
        store: &state.store,
        hasher: &state.hasher,
        throttle: &state.throttle,
    }
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
    let now = state.clock.now();
    let revoke_for = state.session.tokens.ttl_secs() + 60;
    match state
        .store
        .rotate_refresh_token(&req.refresh_token, REFRESH_TOKEN_TTL_SECS, now, revoke_for)
        .await?
    {
        RefreshOutcome::Rotated {
            user,
            new_token,
            sid,
        } => {
            let identity = identity_of(&user, state.config.public_url().origin());
            let minted = state
                .session
                .continue_session(&identity, sid)
                .map_err(session_error)?;
            Ok(Json(TokenResponse {
                access_token: minted.token,
                token_type: "Bearer",
                expires_in: state.session.tokens.ttl_secs(),
                refresh_token: new_token,
            }))
        }
        RefreshOutcome::Invalid => Err(invalid_grant()),
        RefreshOutcome::Reused { sid } => {
            tracing::warn!(
                "a spent refresh token was presented again; its whole session is revoked"
            );
            state.session.apply(&[crate::store::Revocation {
                id: sid,
                expires_at: now + revoke_for,
            }]);
            Err(invalid_grant())
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LogoutRequest {
    refresh_token: Option<String>,
}

/// `POST /api/logout`: ends the session of the presented access token (its refresh tokens
/// too), and, if given, the session of a refresh token. A request authenticated by the
/// browser's cookie must come from this site. Signing out twice is not an error.
pub async fn api_logout(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<StatusCode, ApiError> {
    if user
        .as_ref()
        .is_some_and(|u| u.token_source == TokenSource::Cookie)
        && !super::auth::is_same_origin(&headers, state.config.public_url().origin())
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "cross_origin",
            "a sign-out with the session cookie must come from this site",
        ));
    }
    let req: LogoutRequest = if body.is_empty() {
        LogoutRequest::default()
    } else {
        parse_json(&headers, &body)?
    };
    if let Some(token) = req
        .refresh_token
        .filter(|t| !t.is_empty() && t.len() <= 256)
        && let Some(sid) = state.store.refresh_token_session(&token).await?
    {
        let expires_at = state.clock.now() + state.session.tokens.ttl_secs() + 60;
        state
            .session
            .revoke(vec![crate::store::Revocation {
                id: sid,
                expires_at,
            }])
            .await;
    }
    if let Some(user) = user {
        state.session.end(&user.claims).await;
        tracing::info!(sub = %user.claims.sub, "signed out (API)");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /auth/password`: the home page's sign-in form; sets the same cookie as the OpenID flow.
pub async fn form_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, PageError> {
    if !super::auth::is_same_origin(&headers, state.config.public_url().origin()) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This sign-in form was sent from another site. Use the form on this site.",
        )
        .reason("password_form_cross_origin"));
    }
    if let Err(wait) = state.limits.login.check(client, state.clock.now()) {
        return Err(too_many_page().retry_after(wait));
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
        password_check(&state),
        username.trim(),
        password,
        client,
        state.clock.now(),
    )
    .await
    .map_err(|err| match err {
        PasswordLoginError::InvalidCredentials | PasswordLoginError::PasswordTooLong => {
            PageError::new(
                StatusCode::UNAUTHORIZED,
                "Wrong username or password",
                "The username or password is not right. Check them and try again.",
            )
            .reason("invalid_credentials")
        }
        PasswordLoginError::Throttled(wait) => too_many_page().retry_after(wait),
        PasswordLoginError::Hashing(HashError::Busy) => busy_page(),
        PasswordLoginError::Hashing(HashError::Failed(reason)) => PageError::internal(reason),
        PasswordLoginError::Store(err) => err.into(),
    })?;
    let identity = identity_of(&user, state.config.public_url().origin());
    let minted = state
        .session
        .start(&identity, None)
        .await
        .map_err(|err| match err {
            SessionError::Store(err) => err.into(),
            SessionError::Mint(reason) => PageError::internal(reason),
        })?;
    tracing::info!(user_id = user.id, "password sign-in (form)");
    Ok((
        CookieJar::new().add(session_cookie(
            minted.token,
            state.session.tokens.ttl_secs(),
            state.https(),
        )),
        Redirect::to("/"),
    )
        .into_response())
}

fn too_many_page() -> PageError {
    PageError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "There were too many sign-in attempts. Wait a little, then try again.",
    )
    .reason("throttled")
}

fn busy_page() -> PageError {
    PageError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Busy",
        "doorman is busy with other sign-ins. Try again in a few seconds.",
    )
    .reason("busy")
    .retry_after(2)
}
