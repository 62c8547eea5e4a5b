//! The approval page of signing in from a terminal (RFC 8628): `GET /device` and `POST /device`,
//! where a signed-in person enters the short code a terminal shows, sees what is asking, and
//! approves or denies it. The grant itself is `accounts::device`; the terminal's endpoints are
//! `routes::device`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::json::FormBody;
use super::pages::UserView;
use crate::accounts::AttemptKeys;
use crate::accounts::device;
use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{AppError, PageError, PageResult, render_page};
use crate::net::ClientIp;
use crate::session::{PageUser, SameOrigin};
use crate::store::DeviceDecision;
use crate::telemetry::events;

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
