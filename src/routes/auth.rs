//! `/auth/*`: the browser side of the OpenID Connect flow, and signing out.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::CookieJar;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::{PageError, RequestContext, request_context};
use crate::identity::Identity;
use crate::net::ClientIp;
use crate::oidc::callback::{check_callback, parse_callback_query};
use crate::oidc::flow::{
    FLOW_TTL_SECS, FlowState, ReturnTo, evictions, flow_cookie, flow_cookie_name,
    flow_cookie_removal, is_flow_cookie, removal_named,
};
use crate::oidc::{SignInError, sign_in};
use crate::session::{SessionError, SessionProblem, removal_cookie, session_cookie};
use crate::store::OidcSignIn;

/// In development, the built-in provider's guard also covers starting and finishing a
/// sign-in; then a per-client budget, so nobody can make doorman hammer the provider.
fn admit(state: &AppState, headers: &HeaderMap, client: std::net::IpAddr) -> Result<(), PageError> {
    if let Some(dev) = &state.dev {
        dev.check_request(headers)?;
    }
    state
        .limits
        .sign_in
        .check(client, state.clock.now())
        .map_err(|wait| {
            PageError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-in attempts",
                "This address started too many sign-ins in a short time. Wait a minute, then try again.",
            )
            .reason("sign_in_rate_limited")
            .retry_after(wait)
        })
}

/// `GET /auth/login[?next=/path]`: 303 to the provider, remembering the attempt in a cookie
/// (the oldest attempts give way, so at most a few cookies exist at once).
pub async fn start_login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
    private: PrivateCookieJar,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Result<(CookieJar, PrivateCookieJar, Redirect), PageError> {
    admit(&state, &headers, client)?;
    let next = first_param(query.as_deref(), "next");
    let provider = state.oidc.provider.get().await?;
    let (url, flow) = sign_in::begin(
        &provider,
        ReturnTo::parse(next.as_deref()),
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
    let private = private.add(flow_cookie(&flow, https)?);
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
            return (jar, PageError::from(err)).into_response();
        }
    };
    let flow: Option<FlowState> = params
        .state
        .as_deref()
        .and_then(|s| private.get(&flow_cookie_name(s, https)))
        .and_then(|cookie| serde_json::from_str(cookie.value()).ok());
    let jar = match &params.state {
        Some(s) => jar.remove(flow_cookie_removal(s, https)),
        None => jar,
    };
    let now = state.clock.now();
    let outcome: Result<_, PageError> = async {
        let code = check_callback(&params, flow.as_ref(), &state.oidc.issuer, now)?;
        let flow = flow
            .as_ref()
            .ok_or(SignInError::InvalidCallback("missing_flow_cookie"))?;
        let digest: [u8; 32] = Sha256::digest(flow.state.as_bytes()).into();
        if !state
            .store
            .claim_once(digest, flow.created_at + FLOW_TTL_SECS + 1)
            .await?
        {
            return Err(SignInError::InvalidCallback("replayed_state").into());
        }
        let mut identity =
            sign_in::complete(&state.oidc.provider, &state.config.access, code, flow, now).await?;
        let user = state
            .store
            .upsert_oidc(
                OidcSignIn {
                    issuer: &identity.issuer,
                    subject: &identity.subject,
                    email: identity.email.as_deref(),
                    email_verified: identity.email_verified,
                    name: identity.name.as_deref(),
                    admin_if_new: is_admin_email(&state.config.accounts.admin_emails, &identity),
                },
                now,
            )
            .await?;
        identity.user_id = Some(user.id);
        identity.roles = user.roles;
        let minted = state
            .session
            .start(&identity, None)
            .await
            .map_err(|err| match err {
                SessionError::Store(err) => PageError::from(err),
                SessionError::Mint(reason) => PageError::from(SignInError::Internal(reason)),
            })?;
        tracing::info!(sub = %minted.claims.sub, idp = %minted.claims.idp, "signed in");
        Ok((
            session_cookie(minted.token, state.session.tokens.ttl_secs(), https),
            flow.return_to.clone(),
        ))
    }
    .await;
    match outcome {
        Ok((cookie, return_to)) => (
            jar.add(cookie),
            Redirect::to(ReturnTo::parse(Some(&return_to)).as_str()),
        )
            .into_response(),
        Err(err) => (jar, err).into_response(),
    }
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
pub async fn confirm_logout() -> Result<Response, PageError> {
    LogoutPage {
        ctx: request_context(),
    }
    .render()
    .map(|html| Html(html).into_response())
    .map_err(|e| PageError::internal(format!("template: {e}")))
}

/// `POST /auth/logout`: revokes the session token and removes the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if !is_same_origin(&headers, state.config.public_url().origin()) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "This sign-out request came from another site. Use the Sign out button on this site.",
        )
        .reason("logout_cross_origin"));
    }
    match state
        .session
        .authenticate(&headers, true, state.clock.now())
    {
        Ok(user) => {
            state.session.end(&user.claims).await;
            tracing::info!(sub = %user.claims.sub, "signed out");
        }
        Err(SessionProblem::Missing | SessionProblem::Token(_)) => {}
    }
    Ok((
        CookieJar::new().add(removal_cookie(state.https())),
        Redirect::to("/"),
    )
        .into_response())
}

/// A browser always says where a POST comes from (`Origin`, `Sec-Fetch-Site`); a request that
/// says another site is refused. Clients that send neither (curl) are not browsers, so no
/// ambient cookie can have been borrowed.
pub fn is_same_origin(headers: &HeaderMap, public_origin: &str) -> bool {
    let fetch_site = headers.get("sec-fetch-site").map(|v| v.to_str());
    if let Some(origin) = headers.get(header::ORIGIN) {
        return match origin.to_str() {
            Ok(o) if o == public_origin => true,
            // Privacy settings make browsers send `Origin: null` even to the same site; the
            // browser-set `Sec-Fetch-Site` (which pages cannot forge) then decides.
            Ok("null") => matches!(fetch_site, Some(Ok("same-origin"))),
            _ => false,
        };
    }
    match fetch_site {
        None => true,
        Some(Ok(site)) => site == "same-origin" || site == "none",
        Some(Err(_)) => false,
    }
}

impl From<SignInError> for PageError {
    fn from(err: SignInError) -> Self {
        let reason = err.to_string();
        let page = match err {
            SignInError::InvalidCallback(_) | SignInError::InvalidGrant | SignInError::InvalidIdToken(_) => {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be completed",
                    "The answer from the sign-in provider could not be verified. This happens after \
                     using the back button, opening an old link, or waiting too long.",
                )
                .offer_sign_in()
            }
            SignInError::NotAllowed(_) => PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed to sign in",
                "The sign-in provider confirmed who you are, but this service only admits certain \
                 accounts. Sign in with another account, or ask whoever runs it for access.",
            )
            .offer_sign_in(),
            SignInError::Declined(_) => PageError::new(
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                "Signing in was cancelled or declined, so you are not signed in. Nothing else changed.",
            )
            .offer_sign_in(),
            SignInError::ProviderFailed(_) => PageError::new(
                StatusCode::BAD_GATEWAY,
                "The sign-in provider failed",
                "The sign-in provider gave an answer doorman cannot use. Please try again in a minute.",
            )
            .offer_sign_in(),
            SignInError::ProviderUnavailable => PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "doorman cannot reach the sign-in provider right now. Please try again in a minute.",
            )
            .offer_sign_in(),
            SignInError::ProviderTimeout => PageError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The sign-in provider timed out",
                "The sign-in provider did not answer in time. Please try again in a minute.",
            )
            .offer_sign_in(),
            SignInError::Internal(_) => PageError::internal(String::new()),
        };
        page.reason(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn cross_site_logout_is_refused_and_same_site_or_non_browser_is_allowed() {
        let us = "https://auth.example.com";
        assert!(is_same_origin(
            &with(&[("origin", "https://auth.example.com")]),
            us
        ));
        assert!(!is_same_origin(
            &with(&[("origin", "https://evil.example")]),
            us
        ));
        assert!(!is_same_origin(&with(&[("origin", "null")]), us));
        assert!(!is_same_origin(
            &with(&[("origin", "null"), ("sec-fetch-site", "cross-site")]),
            us
        ));
        assert!(is_same_origin(
            &with(&[("origin", "null"), ("sec-fetch-site", "same-origin")]),
            us
        ));
        assert!(!is_same_origin(
            &with(&[("sec-fetch-site", "cross-site")]),
            us
        ));
        assert!(is_same_origin(
            &with(&[("sec-fetch-site", "same-origin")]),
            us
        ));
        assert!(is_same_origin(&HeaderMap::new(), us));
    }
}
