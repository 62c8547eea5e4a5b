//! Every way a session ends on request: `/auth/logout` (a person, from this site; then, when
//! the provider offers it, at the provider too, coming back to `/auth/signed-out`) and
//! `/auth/backchannel-logout` (the provider itself, server to server).

use askama::Template;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{ApiResult, AppError, PageResult, render_page};
use crate::session::{Authorization, SameOrigin, removal_cookie};
use crate::telemetry::events;

/// Where the provider sends the browser back after signing out there (register it at the
/// provider as a post-logout redirect URI).
pub(super) const SIGNED_OUT_PATH: &str = "/auth/signed-out";
/// The cookie that carries the sign-out's `state` to the way back, and only there.
const STATE_COOKIE: &str = "doorman_logout_state";
/// A sign-out at the provider that takes longer than this comes back unconfirmed.
const STATE_COOKIE_SECS: i64 = 600;
/// The longest sign-out waits to learn where the provider signs people out.
const PROVIDER_SIGN_OUT_WAIT: std::time::Duration = std::time::Duration::from_secs(3);
/// A logout token and its form fit in far less.
const MAX_BACKCHANNEL_BODY: usize = 16 * 1024;

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    ctx: RequestContext,
}

/// `GET /auth/logout`: a confirmation form, so a link or image elsewhere cannot sign anyone out.
pub(super) async fn confirm_logout() -> PageResult<Response> {
    render_page(&LogoutPage { ctx: context() })
}

/// `POST /auth/logout` (from this site only): ends the session and removes the cookie; then
/// to the provider's sign-out when there is one to go to (see `oidc::sign_out`), else home.
pub(super) async fn logout(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    headers: HeaderMap,
) -> Response {
    let sessions = &state.sessions;
    let jar = CookieJar::new().add(removal_cookie(&state.sessions.cookie));
    // Verified, but not checked against the revocation set: signing out works even while
    // the store is unreachable (the revocation is kept and written once it answers).
    let Some(caller) = sessions.identify(&headers, Authorization::Bearer, sessions.clock.now())
    else {
        return (jar, Redirect::to("/")).into_response();
    };
    // In a task of its own, so a client that goes away cannot leave the session alive; where
    // to go next is read first (ending the session deletes the ID token kept for the hint),
    // within a few seconds whatever the provider or the store do.
    let back = format!("{}{SIGNED_OUT_PATH}", state.config.public_url().origin());
    let work = tokio::spawn({
        let state = state.clone();
        async move {
            let next = tokio::time::timeout(
                PROVIDER_SIGN_OUT_WAIT,
                state.sign_in.provider_sign_out(&caller.claims, &back),
            )
            .await
            .ok()
            .flatten();
            state.sessions.end(&caller.claims).await;
            events::logout(&state.metrics, caller.claims.sub());
            next
        }
    });
    match work.await.ok().flatten() {
        Some(out) => {
            let cookie = Cookie::build((STATE_COOKIE, out.state))
                .http_only(true)
                .same_site(SameSite::Lax)
                .secure(state.https())
                .path(SIGNED_OUT_PATH)
                .max_age(time::Duration::seconds(STATE_COOKIE_SECS))
                .build();
            (jar.add(cookie), Redirect::to(out.url.as_str())).into_response()
        }
        None => (jar, Redirect::to("/")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOutPage<'a> {
    ctx: RequestContext,
    at_provider: bool,
    provider_name: &'a str,
}

/// `GET /auth/signed-out?state=…`: the way back from the provider's sign-out. It never acts:
/// whatever the query says, it only tells the person they are signed out, and at the
/// provider too when `state` is the one this browser left with.
pub(super) async fn signed_out(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let expected = jar.get(STATE_COOKIE).map(|c| c.value().to_owned());
    let returned = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned());
    let at_provider = matches!((&expected, &returned), (Some(e), Some(r))
        if !e.is_empty() && constant_time_eq(e.as_bytes(), r.as_bytes()));
    let page = render_page(&SignedOutPage {
        ctx: context(),
        at_provider,
        provider_name: state
            .sign_in
            .only()
            .map_or("the sign-in provider", |p| p.name.as_str()),
    })?;
    let removal = Cookie::build((STATE_COOKIE, ""))
        .path(SIGNED_OUT_PATH)
        .max_age(time::Duration::ZERO)
        .build();
    Ok((jar.add(removal), page).into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `POST /auth/backchannel-logout`: a form with exactly one `logout_token` (Back-Channel
/// Logout 1.0 §2.5). `200` once the sessions it names have ended (`Cache-Control:
/// no-store`, as every answer here); `400 invalid_request` when anything is wrong, and
/// nothing is revoked.
pub(super) async fn backchannel_logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let raw = match logout_token_of(&headers, body).await {
        Ok(raw) => raw,
        Err(err) => {
            state.metrics.provider().backchannel_logout("invalid");
            return Err(err.into());
        }
    };
    let now = state.clock.now();
    match state.sign_in.backchannel_logout(&raw, now).await {
        Ok(ended) => {
            events::backchannel_logout(&state.metrics, Ok(ended));
            Ok(axum::http::StatusCode::OK.into_response())
        }
        Err(err) => {
            events::backchannel_logout(&state.metrics, Err(err.result()));
            Err(AppError::from(err).into())
        }
    }
}

/// `GET /auth/backchannel-logout`: the provider must post.
pub(super) async fn backchannel_logout_get(State(state): State<AppState>) -> ApiResult<Response> {
    state.metrics.provider().backchannel_logout("invalid");
    Err(bad_request("a back-channel logout is a POST with the form field logout_token").into())
}

fn bad_request(message: &'static str) -> AppError {
    let mut err = AppError::bad_request("invalid_request", message).oauth();
    err.event = Some(("backchannel_logout", ""));
    err
}

/// The one `logout_token` of a small urlencoded form.
async fn logout_token_of(headers: &HeaderMap, body: Body) -> Result<String, AppError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form {
        return Err(bad_request(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes = axum::body::to_bytes(body, MAX_BACKCHANNEL_BODY)
        .await
        .map_err(|_| bad_request("the body is larger than a logout token needs (16 KiB)"))?;
    let mut tokens = url::form_urlencoded::parse(&bytes)
        .filter(|(k, _)| k == "logout_token")
        .map(|(_, v)| v.into_owned());
    match (tokens.next(), tokens.next()) {
        (Some(token), None) if !token.is_empty() => Ok(token),
        (Some(_), Some(_)) => Err(bad_request("the form has more than one logout_token")),
        _ => Err(bad_request("the form has no logout_token")),
    }
}
