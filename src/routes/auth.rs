//! `/auth/login` and `/auth/callback[/<id>]`: the browser side of the OpenID Connect flow.
//! Each sign-in handler reads its request, finds the provider (`chooser`, or the callback's
//! path), calls its sign-in service (`oidc::SignInService`), and answers with the cookies the
//! attempt's jar (`oidc::FlowJar`) and the new session need.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::CookieJar;

use super::chooser::{Choice, choose, last_provider_cookie};
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

/// `GET /auth/login[?provider=ID][&next=/path | &rd=https://host/path]`: 303 to the provider,
/// remembering the attempt in a cookie (the oldest attempts give way, so at most a few
/// cookies exist at once); with several providers and none named, the chooser page.
pub(super) async fn start_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    admit(&state, &headers, client)?;
    let provider = match choose(&state, query.as_deref(), &jar)? {
        Choice::Provider(provider) => provider,
        Choice::Page(page) => return Ok(page),
    };
    let return_to = requested_return(&state, query.as_deref());
    let (url, flow) = provider.begin(return_to, state.clock.now()).await?;
    let (jar, private) = FlowJar::new(private, jar, state.https()).begin(&flow)?;
    Ok((jar, private, Redirect::to(url.as_str())).into_response())
}

pub(super) fn first_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /auth/callback[/<id>]`: the provider's answer, for the provider whose callback this
/// path is (routes are flat, so `Uri` is the request's own path). Whatever happens, the attempt's cookie is consumed, so an answer can be used once.
pub(super) async fn finish_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = admit(&state, &headers, client) {
        return refused.into_response();
    }
    let Some(provider) = state.sign_in.by_callback(uri.path()) else {
        return PageError::from(AppError::not_found()).into_response();
    };
    let method = LoginMethod::Oidc(provider.id);
    let attempts = FlowJar::new(private, jar, state.https());
    let params = match parse_callback_query(query.as_deref()) {
        Ok(params) => params,
        Err(err) => {
            // Too malformed to judge, it still ends every attempt it names.
            let jar = attempts.end_attempts_named_in(query.as_deref());
            let err = login_failed(&state, method, PageError::from(err));
            return (jar, err).into_response();
        }
    };
    let (flow, jar) = attempts.take(params.state.as_deref());
    match provider
        .finish(&params, flow.as_ref(), state.clock.now())
        .await
    {
        Ok(signed_in) => signed_in_answer(&state, jar, provider.id, signed_in).into_response(),
        Err(err) => {
            let err = login_failed(&state, method, PageError::from(err));
            (jar, err).into_response()
        }
    }
}

/// The session cookie (beside the attempt's removal in `jar`; with several providers, the
/// one used is remembered for the chooser), and a 303 to where the attempt asked to return,
/// judged again.
fn signed_in_answer(
    state: &AppState,
    mut jar: CookieJar,
    provider: &'static str,
    signed_in: SignedIn,
) -> (CookieJar, Redirect) {
    let SignedIn { session, return_to } = signed_in;
    login_succeeded(state, LoginMethod::Oidc(provider), &session.claims.sub);
    let ttl = state.sessions.tokens.ttl_secs();
    let cookie = session_cookie(session.token, ttl, &state.sessions.cookie);
    if state.sign_in.only().is_none() {
        jar = jar.add(last_provider_cookie(provider, state.https()));
    }
    let to = stored_return(state, &return_to);
    (jar.add(cookie), Redirect::to(to.as_str()))
}
