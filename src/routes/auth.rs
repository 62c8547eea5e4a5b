//! `/auth/*`: the browser side of the OpenID Connect flow, and signing out.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use sha2::{Digest, Sha256};

use super::outcomes::{login_failed, login_succeeded};
use crate::app::AppState;
use crate::error::context::{RequestContext, context};
use crate::error::{AppError, PageError, PageResult, render_page};
use crate::identity::Identity;
use crate::net::ClientIp;
use crate::oidc::callback::{CallbackParams, check_callback, parse_callback_query};
use crate::oidc::flow::{
    FLOW_TTL_SECS, FlowState, ReturnTo, evictions, flow_cookie, flow_cookie_name,
    flow_cookie_removal, is_flow_cookie, removal_named,
};
use crate::oidc::{SignInError, sign_in};
use crate::session::{Authorization, SameOrigin, removal_cookie, session_cookie};
use crate::store::OidcSignIn;
use crate::telemetry::events::{self, LoginMethod};

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
pub async fn start_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> PageResult<(CookieJar, PrivateCookieJar, Redirect)> {
    admit(&state, &headers, client)?;
    let provider = state.oidc.provider.get().await?;
    let (url, flow) = sign_in::begin(
        &provider,
        requested_return(&state, query.as_deref()),
        state.clock.now(),
    );
    let existing = jar
        .iter()
        .filter(|c| is_flow_cookie(c.name()))
        .map(|c| {
            let created = private
                .get(c.name())
                .and_then(|c| serde_json::from_str::<FlowState>(c.value()).ok())
                .map(|f| f.created_at);
            (c.name().to_owned(), created)
        })
        .collect();
    let https = state.https();
    let jar = evictions(existing)
        .into_iter()
        .fold(jar, |jar, name| jar.remove(removal_named(name, https)));
    let private = private.add(flow_cookie(&flow, https).map_err(AppError::from)?);
    Ok((jar, private, Redirect::to(url.as_str())))
}

fn first_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `GET /auth/callback`: the provider's answer. Whatever happens, the attempt's cookie is
/// consumed, so an answer can be used once.
pub async fn finish_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    // Removal goes through the plain jar: a flow cookie that no longer decrypts (tampered,
    // or from before a key change) is consumed too.
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refused) = admit(&state, &headers, client) {
        return refused.into_response();
    }
    let https = state.https();
    let params = match parse_callback_query(query.as_deref()) {
        Ok(params) => params,
        Err(err) => {
            // A malformed answer still ends every attempt it names.
            let jar = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
                .filter(|(k, _)| k == "state")
                .take(4)
                .fold(jar, |jar, (_, s)| {
                    jar.remove(flow_cookie_removal(&s, https))
                });
            let err = login_failed(&state, LoginMethod::Oidc, PageError::from(err));
            return (jar, err).into_response();
        }
    };
    let (flow, jar) = take_flow(params.state.as_deref(), &private, jar, https);
    match complete(&state, &params, flow.as_ref()).await {
        Ok((cookie, return_to)) => (
            jar.add(cookie),
            Redirect::to(stored_return(&state, &return_to).as_str()),
        )
            .into_response(),
        Err(err) => (jar, login_failed(&state, LoginMethod::Oidc, err)).into_response(),
    }
}

/// The attempt `state` names (if its cookie still decrypts), and the jar that removes that
/// cookie whatever happens next.
fn take_flow(
    state: Option<&str>,
    private: &PrivateCookieJar,
    jar: CookieJar,
    https: bool,
) -> (Option<FlowState>, CookieJar) {
    let Some(state) = state else {
        return (None, jar);
    };
    let flow = private
        .get(&flow_cookie_name(state, https))
        .and_then(|cookie| serde_json::from_str(cookie.value()).ok());
    (flow, jar.remove(flow_cookie_removal(state, https)))
}

/// Finishes a sign-in: the callback's checks, the state's single use (in the store, so
/// across instances), the provider round trip, the user record, a new session. Returns the
/// session cookie and where to go.
async fn complete(
    state: &AppState,
    params: &CallbackParams,
    flow: Option<&FlowState>,
) -> PageResult<(Cookie<'static>, String)> {
    let now = state.clock.now();
    let code = check_callback(&state.oidc, params, flow, now).await?;
    let flow = flow.ok_or(SignInError::InvalidCallback("missing_flow_cookie"))?;
    let digest: [u8; 32] = Sha256::digest(flow.state.as_bytes()).into();
    let expires = flow.created_at + FLOW_TTL_SECS + 1;
    if !state.store.claim_once(digest, expires).await? {
        return Err(SignInError::InvalidCallback("replayed_state").into());
    }
    let mut identity =
        sign_in::complete(&state.oidc.provider, &state.config.access, code, flow, now).await?;
    let sign_in = OidcSignIn {
        issuer: &identity.issuer,
        subject: &identity.subject,
        email: identity.email.as_deref(),
        email_verified: identity.email_verified,
        name: identity.name.as_deref(),
        admin_if_new: is_admin_email(&state.config.accounts.admin_emails, &identity),
    };
    let user = state.store.upsert_oidc(sign_in, now).await?;
    identity.user_id = Some(user.id);
    identity.roles = user.roles;
    let minted = state.sessions.start(&identity, None).await?;
    login_succeeded(state, LoginMethod::Oidc, &minted.claims.sub);
    let ttl = state.sessions.tokens.ttl_secs();
    Ok((
        session_cookie(minted.token, ttl, &state.sessions.cookie),
        flow.return_to.clone(),
    ))
}

/// `ADMIN_EMAILS` trusts an email only when the provider verified it.
fn is_admin_email(admin_emails: &[String], identity: &Identity) -> bool {
    identity.email_verified
        && identity
            .email
            .as_deref()
            .is_some_and(|email| admin_emails.iter().any(|a| a.eq_ignore_ascii_case(email)))
}

#[derive(Template)]
#[template(path = "logout.html")]
struct LogoutPage {
    ctx: RequestContext,
}

/// `GET /auth/logout`: a confirmation form, so a link or image elsewhere cannot sign anyone out.
pub async fn confirm_logout() -> PageResult<Response> {
    render_page(&LogoutPage { ctx: context() })
}

/// `POST /auth/logout` (from this site only): ends the session and removes the cookie.
pub async fn logout(
    State(state): State<AppState>,
    _same_origin: SameOrigin,
    headers: HeaderMap,
) -> Response {
    let sessions = &state.sessions;
    // Verified, but not checked against the revocation set: signing out works even while
    // the store is unreachable (the revocation is kept and written once it answers).
    if let Some(caller) = sessions.identify(&headers, Authorization::Bearer, sessions.clock.now()) {
        sessions.end(&caller.claims).await;
        events::logout(&state.metrics, caller.claims.sub());
    }
    (
        CookieJar::new().add(removal_cookie(&state.sessions.cookie)),
        Redirect::to("/"),
    )
        .into_response()
}
