//! `/auth/login` and `/auth/callback`: the browser side of the OpenID Connect flow. Each sign-in
//! handler reads its request, calls the sign-in service (`oidc::SignInService`), and answers
//! with the cookies the attempt's jar (`oidc::FlowJar`) and the new session need.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::CookieJar;

use super::outcomes::{login_failed, login_succeeded};
use crate::app::AppState;
use crate::error::{AppError, PageError, PageResult};
use crate::net::ClientIp;
use crate::oidc::callback::parse_callback_query;
use crate::oidc::flow::ReturnTo;
use crate::oidc::{FlowJar, SignedIn};
use crate::session::session_cookie;
use crate::telemetry::events::LoginMethod;

/// In development, the built-in provider's guard also covers starting and finishing a
/// sign-in; then a per-client budget, so nobody can make doorman hammer the provider.
fn admit(state: &AppState, headers: &HeaderMap, client: std::net::IpAddr) -> PageResult<()> {
    if let Some(dev) = &state.dev {
        dev.check_request(headers)?;
    }
    state
        .limits
        .sign_in
        .check(client, state.clock.now())
        .map_err(|wait| {
            PageError::from(AppError::rate_limited(wait).page(
                "Too many sign-in attempts",
                "This address started too many sign-ins in a short time. Wait a minute, then try again.",
            ))
        })
}

/// Where to go after signing in: `rd`, an absolute URL on an allowed host (the gateway sends
/// people here from protected hosts), or `next`, a same-site path; `/` otherwise. A refused
/// `rd` is counted by reason.
fn requested_return(state: &AppState, query: Option<&str>) -> ReturnTo {
    if let Some(rd) = first_param(query, "rd") {
        let hosts = &state.config.gateway.redirect_hosts;
        match ReturnTo::absolute(&rd, hosts, state.https()) {
            Ok(to) => return to,
            Err(reason) => {
                state.metrics.redirect_rejected(reason);
                tracing::info!(
                    reason,
                    "refused a return URL (rd); returning to / after sign-in"
                );
                return ReturnTo::root();
            }
        }
    }
    ReturnTo::parse(first_param(query, "next").as_deref())
}

/// The stored return target, judged again.
fn stored_return(state: &AppState, stored: &str) -> ReturnTo {
    ReturnTo::restore(stored, &state.config.gateway.redirect_hosts, state.https())
}

/// `GET /auth/login[?next=/path | ?rd=https://host/path]`: 303 to the provider, remembering the attempt in a cookie
/// (the oldest attempts give way, so at most a few cookies exist at once).
pub(super) async fn start_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult<(CookieJar, PrivateCookieJar, Redirect)> {
    admit(&state, &headers, client)?;
    let return_to = requested_return(&state, query.as_deref());
    let (url, flow) = state.sign_in.begin(return_to, state.clock.now()).await?;
    let (jar, private) = FlowJar::new(private, jar, state.https()).begin(&flow)?;
    Ok((jar, private, Redirect::to(url.as_str())))
}

fn first_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /auth/callback`: the provider's answer. Whatever happens, the attempt's cookie is
/// consumed, so an answer can be used once.
pub(super) async fn finish_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = admit(&state, &headers, client) {
        return refused.into_response();
    }
    let attempts = FlowJar::new(private, jar, state.https());
    let params = match parse_callback_query(query.as_deref()) {
        Ok(params) => params,
        Err(err) => {
            // Too malformed to judge, it still ends every attempt it names.
            let jar = attempts.end_attempts_named_in(query.as_deref());
            let err = login_failed(&state, LoginMethod::Oidc, PageError::from(err));
            return (jar, err).into_response();
        }
    };
    let (flow, jar) = attempts.take(params.state.as_deref());
    match state
        .sign_in
        .finish(&params, flow.as_ref(), state.clock.now())
        .await
    {
        Ok(signed_in) => signed_in_answer(&state, jar, signed_in).into_response(),
        Err(err) => {
            let err = login_failed(&state, LoginMethod::Oidc, PageError::from(err));
            (jar, err).into_response()
        }
    }
}

/// The session cookie (beside the attempt's removal in `jar`), and a 303 to where the
/// attempt asked to return, judged again.
fn signed_in_answer(
    state: &AppState,
    jar: CookieJar,
    signed_in: SignedIn,
) -> (CookieJar, Redirect) {
    let SignedIn { session, return_to } = signed_in;
    login_succeeded(state, LoginMethod::Oidc, &session.claims.sub);
    let ttl = state.sessions.tokens.ttl_secs();
    let cookie = session_cookie(session.token, ttl, &state.sessions.cookie);
    let to = stored_return(state, &return_to);
    (jar.add(cookie), Redirect::to(to.as_str()))
}
