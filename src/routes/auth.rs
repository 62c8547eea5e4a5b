//! `/auth/*`: the browser side of the OpenID Connect flow, and signing out.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::CookieJar;

use crate::AppState;
use crate::accounts::OidcSignIn;
use crate::error::{PageError, RequestContext, request_context};
use crate::oidc::flow::{
    FlowState, ReturnTo, flow_cookie, flow_cookie_name, flow_cookie_removal, parse_callback_query,
};
use crate::oidc::{self, AuthError};
use crate::session::{Identity, SessionProblem, new_jti, now_secs, removal_cookie, session_cookie};

/// `GET /auth/login[?next=/path]`: 303 to the provider, remembering the attempt in a cookie.
pub async fn start_login(
    State(state): State<AppState>,
    jar: PrivateCookieJar,
    RawQuery(query): RawQuery,
) -> Result<(PrivateCookieJar, Redirect), PageError> {
    let next = first_param(query.as_deref(), "next");
    let provider = state.oidc.provider.get().await?;
    let (url, flow) = oidc::begin_login(&provider, ReturnTo::parse(next.as_deref()), now_secs());
    let jar = jar.add(flow_cookie(&flow, state.https())?);
    Ok((jar, Redirect::to(url.as_str())))
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
    private: PrivateCookieJar,
    // Removal goes through the plain jar: a flow cookie that no longer decrypts (tampered,
    // or from before a key change) is consumed too.
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
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
    let now = now_secs();
    let outcome: Result<_, PageError> = async {
        let code = oidc::check_callback(&params, flow.as_ref(), &state.oidc.issuer, now)?;
        let flow = flow
            .as_ref()
            .ok_or(AuthError::InvalidCallback("missing_flow_cookie"))?;
        if !state.oidc.used_states.first_use(&flow.state, now) {
            return Err(AuthError::InvalidCallback("replayed_state").into());
        }
        let mut identity = oidc::finish_login(
            &state.oidc.provider,
            code,
            flow,
            &state.config.access_policy,
        )
        .await?;
        let user = state
            .accounts
            .upsert_oidc(OidcSignIn {
                issuer: &identity.issuer,
                subject: &identity.subject,
                email: identity.email.as_deref(),
                email_verified: identity.email_verified,
                name: identity.name.as_deref(),
                make_admin: is_admin_email(&state.config.admin_emails, &identity),
            })
            .await?;
        identity.user_id = Some(user.id);
        identity.roles = user.roles;
        let tokens = &state.session.tokens;
        let claims = tokens.claims_for(&identity, now, new_jti());
        let jwt = tokens
            .mint(&claims)
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        tracing::info!(sub = %claims.sub, idp = %claims.idp, "signed in");
        Ok((
            session_cookie(jwt, tokens.ttl_secs(), https),
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
    if !is_same_origin(&headers, state.config.public_url.origin()) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "Sign-out refused",
            "This sign-out request came from another site. Use the Sign out button on this site.",
        )
        .reason("logout_cross_origin"));
    }
    let now = now_secs();
    match state.session.authenticate(&headers, true, now) {
        Ok(user) => {
            state
                .session
                .revocations
                .revoke(&user.claims.jti, user.claims.exp, now);
            tracing::info!(sub = %user.claims.sub, "signed out");
        }
        Err(SessionProblem::Missing | SessionProblem::Token(_)) => {}
    }
    let mut response = (
        CookieJar::new().add(removal_cookie(state.https())),
        Redirect::to("/"),
    )
        .into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
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

impl From<AuthError> for PageError {
    fn from(err: AuthError) -> Self {
        let reason = err.to_string();
        let page = match err {
            AuthError::InvalidCallback(_) | AuthError::InvalidGrant | AuthError::InvalidIdToken(_) => {
                PageError::new(
                    StatusCode::BAD_REQUEST,
                    "Sign-in could not be completed",
                    "The answer from the sign-in provider could not be verified. This happens after \
                     using the back button, opening an old link, or waiting too long.",
                )
                .offer_sign_in()
            }
            AuthError::NotAllowed(_) => PageError::new(
                StatusCode::FORBIDDEN,
                "Not allowed to sign in",
                "The sign-in provider confirmed who you are, but this service only admits certain \
                 accounts. Sign in with another account, or ask whoever runs it for access.",
            )
            .offer_sign_in(),
            AuthError::Declined(_) => PageError::new(
                StatusCode::FORBIDDEN,
                "Sign-in cancelled",
                "Signing in was cancelled or declined, so you are not signed in. Nothing else changed.",
            )
            .offer_sign_in(),
            AuthError::ProviderFailed(_) => PageError::new(
                StatusCode::BAD_GATEWAY,
                "The sign-in provider failed",
                "The sign-in provider gave an answer doorman cannot use. Please try again in a minute.",
            )
            .offer_sign_in(),
            AuthError::ProviderUnavailable => PageError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                "doorman cannot reach the sign-in provider right now. Please try again in a minute.",
            )
            .offer_sign_in(),
            AuthError::ProviderTimeout => PageError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "The sign-in provider timed out",
                "The sign-in provider did not answer in time. Please try again in a minute.",
            )
            .offer_sign_in(),
            AuthError::Internal(_) => PageError::internal(String::new()),
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
