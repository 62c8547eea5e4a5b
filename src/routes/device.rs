//! Signing in from a terminal (RFC 8628): `POST /auth/device` starts a request and gives the
//! terminal its codes, `GET /device` and `POST /device` are where a signed-in person enters
//! the short code and approves or denies it, and `POST /auth/device/token` is where the
//! terminal polls until it receives a token pair. The grant itself is `accounts::device`.

use askama::Template;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::accounts::token_response;
use super::json::{ApiBody, FormBody};
use super::outcomes::{login_failed, login_failed_because, login_succeeded};
use super::pages::UserView;
use crate::accounts::device::{self, CLI_CLIENT_ID, Polled, Requester};
use crate::accounts::{self, AttemptKeys, Refreshed, TokenPair};
use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{ApiError, ApiResult, AppError, PageError, PageResult, render_page};
use crate::net::ClientIp;
use crate::session::{Authorization, PageUser, SameOrigin};
use crate::store::DeviceDecision;
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

/// The approval page's three steps.
pub(super) enum DeviceStep {
    /// Enter a code (with what was wrong with the last one).
    Enter(Option<&'static str>),
    Confirm(RequestView),
    /// Approved (`true`) or denied.
    Done(bool),
}

/// A pending request as the page shows it.
pub(super) struct RequestView {
    code: String,
    requested_at: String,
    minutes_ago: u64,
    address: String,
    agent: String,
}

#[derive(Template)]
#[template(path = "device.html")]
struct DevicePage<'a> {
    ctx: RequestContext,
    user: UserView<'a>,
    step: DeviceStep,
}

fn page(user: &PageUser, step: DeviceStep, status: StatusCode) -> PageResult<Response> {
    let mut response = render_page(&DevicePage {
        ctx: context(),
        user: UserView::from_claims(&user.claims),
        step,
    })?;
    *response.status_mut() = status;
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct CodeQuery {
    code: Option<String>,
}

/// The pending request `input` names, after the guessing throttle let this attempt through:
/// `Err` is the page to show instead.
async fn pending_request(
    state: &AppState,
    user: &PageUser,
    client: std::net::IpAddr,
    input: &str,
) -> Result<Result<String, (&'static str, StatusCode)>, PageError> {
    let Some(code) = device::normalize(input) else {
        return Ok(Err((
            "That is not a code doorman gives: it is 8 letters, like BCDF-GHJK.",
            StatusCode::BAD_REQUEST,
        )));
    };
    let keys = AttemptKeys::device_code(user.claims.idp(), user.claims.sub(), client);
    let now = state.clock.now();
    if let Err(wait) = state.throttle.begin_attempt(&keys, now).await? {
        state.metrics.device_grant("throttled");
        return Err(PageError::from(AppError::rate_limited(wait).page(
            "Too many codes tried",
            "Too many wrong codes were entered. Wait a while, then type the code again.",
        )));
    }
    let found = device::find(&state.store, &code).await?;
    let problem = match found {
        Some(grant) if grant.status == "pending" && now < grant.expires_at => {
            // This attempt is given back, nothing more: a guesser looking up a code of their
            // own must not wipe the count of their wrong ones.
            state.throttle.gave_back(&keys).await?;
            return Ok(Ok(code));
        }
        Some(grant) if grant.status == "pending" => {
            "That code has expired. Start again in your terminal."
        }
        Some(_) => "That code was already used. Start again in your terminal.",
        None => "No request has that code. Check it, or start again in your terminal.",
    };
    Ok(Err((problem, StatusCode::BAD_REQUEST)))
}

/// `GET /device[?code=]`: enter a code, or see who is asking and decide.
pub(super) async fn approval_page(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    user: PageUser,
    Query(query): Query<CodeQuery>,
) -> PageResult<Response> {
    let Some(input) = query.code.filter(|c| !c.trim().is_empty()) else {
        return page(&user, DeviceStep::Enter(None), StatusCode::OK);
    };
    let code = match pending_request(&state, &user, client, &input).await? {
        Ok(code) => code,
        Err((problem, status)) => return page(&user, DeviceStep::Enter(Some(problem)), status),
    };
    let Some(grant) = device::find(&state.store, &code).await? else {
        return page(&user, DeviceStep::Enter(None), StatusCode::OK);
    };
    let requested_at =
        chrono::DateTime::from_timestamp(i64::try_from(grant.created_at).unwrap_or(0), 0)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
            .unwrap_or_default();
    let view = RequestView {
        code: device::display(&code),
        requested_at,
        minutes_ago: state.clock.now().saturating_sub(grant.created_at) / 60,
        address: grant.client_address,
        agent: grant.client_agent,
    };
    page(&user, DeviceStep::Confirm(view), StatusCode::OK)
}

/// `POST /device` (`code`, `action` = approve | deny), from this site only.
pub(super) async fn decide(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    ClientIp(client): ClientIp,
    user: PageUser,
    FormBody(body): FormBody,
) -> PageResult<Response> {
    let mut input = String::new();
    let mut action = String::new();
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "code" => input = value.into_owned(),
            "action" => action = value.into_owned(),
            _ => {}
        }
    }
    let approve = match action.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(PageError::from(AppError::bad_request(
                "invalid_request",
                "approve or deny: the form's action is missing",
            )));
        }
    };
    let code = match pending_request(&state, &user, client, &input).await? {
        Ok(code) => code,
        Err((problem, status)) => return page(&user, DeviceStep::Enter(Some(problem)), status),
    };
    let decision = if approve {
        state
            .sessions
            .resolve_groups(&user.claims)
            .await
            .map_err(|p| PageError::from(AppError::from(p)))?;
        let groups: Vec<&str> = user.claims.groups().collect();
        let Some(user_id) = user.claims.uid else {
            return Err(PageError::from(AppError::forbidden(
                "unknown_account",
                "your account is not known here any more; sign in again",
            )));
        };
        DeviceDecision::Approve {
            user_id,
            groups: (!groups.is_empty())
                .then(|| serde_json::to_string(&groups).unwrap_or_default()),
        }
    } else {
        DeviceDecision::Deny
    };
    if !device::decide(&state.store, &code, decision, state.clock.now()).await? {
        return page(
            &user,
            DeviceStep::Enter(Some(
                "That request is no longer waiting: it was decided or has expired.",
            )),
            StatusCode::CONFLICT,
        );
    }
    events::device_decided(&state.metrics, approve, user.claims.sub());
    page(&user, DeviceStep::Done(approve), StatusCode::OK)
}
