//! What the gateway answers when it does not let a request through, the same for nginx,
//! Traefik/Caddy and the front door: a browser navigation without a session is sent to sign
//! in and back (a redirect where the proxy passes one on; nginx gets a 401 whose `Location`
//! its snippet follows), a program gets a 401 JSON with `WWW-Authenticate` and a `login_url`,
//! a caller the policy refuses a 403 naming what it requires (a page for a navigation), a
//! request that cannot be judged a 400 naming what is missing, and an unknown revocation
//! state a 503. Every error body is an `AppError`, rendered (and logged) in one place.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::decide::Refusal;
use super::reason::{DenyReason, NoSession};
use super::request::{Endpoint, Target};
use super::service::Gateway;
use crate::error::{ApiError, AppError, PageError};
use crate::session::SessionProblem;

const CHALLENGE: &str = r#"Bearer realm="doorman""#;
const EXPIRED: &str =
    r#"Bearer realm="doorman", error="invalid_token", error_description="token expired""#;
const ENDED: &str =
    r#"Bearer realm="doorman", error="invalid_token", error_description="session ended""#;
const INVALID: &str =
    r#"Bearer realm="doorman", error="invalid_token", error_description="invalid token""#;

impl Gateway {
    /// The answer to a refused request under the policy `policy` that came in by `endpoint`.
    pub fn refuse(&self, endpoint: Endpoint, policy: &str, refusal: Refusal) -> Response {
        match refusal {
            Refusal::Unauthenticated {
                target,
                reason,
                bearer,
                navigation,
            } => {
                let providers = self
                    .policies
                    .get(policy)
                    .map_or(&[][..], |p| p.providers.as_slice());
                self.unauthenticated(endpoint, &target, providers, reason, bearer, navigation)
            }
            Refusal::Forbidden {
                reason,
                required,
                navigation,
            } => forbidden(endpoint, policy, reason, required, navigation),
            Refusal::Unavailable => {
                ApiError::from(AppError::from(SessionProblem::Unavailable)).into_response()
            }
            Refusal::BadRequest {
                reason,
                message,
                missing,
            } => ApiError::from(AppError::bad_request(reason.as_str(), message).missing(missing))
                .into_response(),
        }
    }

    /// Where a browser signs in and comes back to `target`: straight to the provider when the
    /// policy admits only one, to the chooser narrowed to those it admits when it names
    /// several (`local` is signed in with a password, from the chooser's page of its own).
    pub fn login_url(&self, target: &Target, providers: &[String]) -> String {
        let rd: String = url::form_urlencoded::byte_serialize(target.href().as_bytes()).collect();
        let mut url = format!("{}/auth/login?rd={rd}", self.public_url.origin());
        let external: Vec<&str> = providers
            .iter()
            .map(String::as_str)
            .filter(|id| *id != crate::config::LOCAL_PROVIDER_ID)
            .collect();
        match external.as_slice() {
            [] => {}
            [one] if external.len() == providers.len() => {
                url.push_str("&provider=");
                url.push_str(one);
            }
            several => {
                url.push_str("&providers=");
                url.push_str(&several.join(","));
            }
        }
        url
    }

    fn unauthenticated(
        &self,
        endpoint: Endpoint,
        target: &Target,
        providers: &[String],
        reason: NoSession,
        bearer: bool,
        navigation: bool,
    ) -> Response {
        let login = self.login_url(target, providers);
        if navigation && endpoint.may_redirect() {
            // 303 for a navigation that was not GET/HEAD: the browser comes back with GET.
            let status = if matches!(target.method.as_str(), "GET" | "HEAD") {
                StatusCode::FOUND
            } else {
                StatusCode::SEE_OTHER
            };
            let mut response = status.into_response();
            if let Ok(location) = HeaderValue::from_str(&login) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            return response;
        }
        let (code, message, challenge) = match (bearer, reason) {
            (true, NoSession::Expired) => ("invalid_token", "token expired", EXPIRED),
            (true, NoSession::Revoked) => ("invalid_token", "session ended", ENDED),
            (true, _) => ("invalid_token", "invalid token", INVALID),
            (false, NoSession::Expired) => (
                "token_expired",
                "the session expired; sign in again",
                CHALLENGE,
            ),
            (false, _) => (
                "unauthenticated",
                "sign in first, or send Authorization: Bearer <token>",
                CHALLENGE,
            ),
        };
        let err = AppError::new(StatusCode::UNAUTHORIZED, code, message)
            .challenge(challenge)
            .reason(reason.as_str())
            .login_url(login.clone());
        let mut response = ApiError::from(err).into_response();
        // nginx cannot pass on a 3xx, so a navigation's 401 says where to go.
        if navigation && let Ok(location) = HeaderValue::from_str(&login) {
            response.headers_mut().insert(header::LOCATION, location);
        }
        response
    }
}

/// 403: a page for a navigation where the proxy shows it, else JSON naming the policy, the
/// reason and what the policy requires (any one of it, which the caller lacks). The same
/// sentence is the page's text and the log line's detail.
fn forbidden(
    endpoint: Endpoint,
    policy: &str,
    reason: DenyReason,
    required: Vec<String>,
    navigation: bool,
) -> Response {
    let message = reason.message(policy, &required);
    let err = AppError::forbidden("forbidden", message.clone())
        .reason(reason.as_str())
        .detail(message)
        .policy(policy)
        .requires(required);
    if navigation && endpoint.may_redirect() {
        return PageError::from(err).into_response();
    }
    ApiError::from(err).into_response()
}
