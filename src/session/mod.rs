//! The session: the only code that knows the session JWT format, the cookie that carries it,
//! and how a request proves who is calling (`CurrentUser`).
//!
//! `/api/*` accepts `Authorization: Bearer <jwt>` or the cookie and answers 401 JSON; pages read
//! only the cookie and send a signed-out visitor to sign in, then back.

mod cookie;
mod revocation;
mod service;
mod token;

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts, OriginalUri};
use axum::http::{HeaderMap, header, request::Parts};
use axum::response::{IntoResponse, Redirect, Response};

pub use cookie::{COOKIE_NAME, HOST_COOKIE_NAME, cookie_name, removal_cookie, session_cookie};
pub use revocation::RevocationSet;
pub use service::{Minted, Outbox, SessionError};
pub use token::{MAX_TOKEN_BYTES, SessionClaims, SessionTokens, TokenError};

use crate::clock::Clock;
use crate::error::ApiError;
use crate::store::Store;

/// What the session extractors need from the application state.
#[derive(Clone)]
pub struct SessionState {
    pub tokens: Arc<SessionTokens>,
    pub revocations: Arc<RevocationSet>,
    pub https: bool,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub outbox: Arc<Outbox>,
}

/// A signed-in caller, proven by a valid, unrevoked session token.
#[derive(Clone, Debug)]
pub struct CurrentUser {
    pub claims: SessionClaims,
    /// The token itself, for handlers that revoke it.
    pub token_source: TokenSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    Cookie,
    Bearer,
}

/// Why a request carries no usable session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionProblem {
    Missing,
    Token(TokenError),
}

/// Where the credential came from and what it was, before verification.
fn find_token<'h>(
    headers: &'h HeaderMap,
    cookie_name: &str,
    accept_bearer: bool,
) -> Result<Option<(&'h str, TokenSource)>, TokenError> {
    if accept_bearer {
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        if let Some(value) = values.next() {
            if values.next().is_some() {
                return Err(TokenError::Invalid);
            }
            return bearer_token(value.to_str().map_err(|_| TokenError::Invalid)?)
                .map(|t| Some((t, TokenSource::Bearer)));
        }
    }
    Ok(cookie_value(headers, cookie_name)?.map(|t| (t, TokenSource::Cookie)))
}

/// `Bearer <token>`, the scheme case-insensitive (RFC 7235); anything else is invalid.
fn bearer_token(value: &str) -> Result<&str, TokenError> {
    let (scheme, token) = value.trim().split_once(' ').ok_or(TokenError::Invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(TokenError::Invalid);
    }
    Ok(token)
}

/// The one value of `name` across all `Cookie` headers. Two values, or a quoted one, is an
/// attempt to confuse us (cookie tossing) and is refused rather than guessed at.
fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Result<Option<&'h str>, TokenError> {
    let mut found = None;
    for header_value in headers.get_all(header::COOKIE) {
        let Ok(text) = header_value.to_str() else {
            continue;
        };
        for pair in text.split(';') {
            let Some((k, v)) = pair.trim().split_once('=') else {
                continue;
            };
            if k.trim() != name {
                continue;
            }
            if found.is_some() || v.starts_with('"') {
                return Err(TokenError::Invalid);
            }
            found = Some(v.trim());
        }
    }
    Ok(found.filter(|v| !v.is_empty()))
}

impl SessionState {
    /// Checks the request's credentials at `now`.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        accept_bearer: bool,
        now: u64,
    ) -> Result<CurrentUser, SessionProblem> {
        let (token, token_source) = find_token(headers, cookie_name(self.https), accept_bearer)
            .map_err(SessionProblem::Token)?
            .ok_or(SessionProblem::Missing)?;
        let claims = self
            .tokens
            .verify(token, now)
            .map_err(SessionProblem::Token)?;
        if self.revocations.is_revoked(claims.revocation_id(), now) {
            return Err(SessionProblem::Token(TokenError::Invalid));
        }
        Ok(CurrentUser {
            claims,
            token_source,
        })
    }
}

/// The URI as the client sent it: nested routers see only the part below their prefix.
fn original_uri(parts: &Parts) -> &axum::http::Uri {
    parts
        .extensions
        .get::<OriginalUri>()
        .map_or(&parts.uri, |original| &original.0)
}

fn is_api(parts: &Parts) -> bool {
    original_uri(parts).path().starts_with("/api/")
}

/// The answer to a request without a usable session: 401 JSON on `/api/*`, a redirect to
/// sign-in (and back) on pages.
#[derive(Debug)]
pub struct SessionRejection {
    problem: SessionProblem,
    /// `Some(path)` for pages: where to return after signing in.
    page_return_to: Option<String>,
}

impl IntoResponse for SessionRejection {
    fn into_response(self) -> Response {
        match self.page_return_to {
            None => ApiError::unauthorized(self.problem).into_response(),
            Some(path) => {
                let next: String = url::form_urlencoded::byte_serialize(path.as_bytes()).collect();
                Redirect::to(&format!("/auth/login?next={next}")).into_response()
            }
        }
    }
}

impl<S> FromRequestParts<S> for CurrentUser
where
    SessionState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = SessionRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let api = is_api(parts);
        let sessions = SessionState::from_ref(state);
        sessions
            .authenticate(&parts.headers, api, sessions.clock.now())
            .map_err(|problem| SessionRejection {
                problem,
                page_return_to: (!api).then(|| {
                    original_uri(parts)
                        .path_and_query()
                        .map_or("/", |pq| pq.as_str())
                        .to_owned()
                }),
            })
    }
}

/// Pages that work for everybody take `Option<CurrentUser>`: any problem means signed out.
impl<S> OptionalFromRequestParts<S> for CurrentUser
where
    SessionState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let sessions = SessionState::from_ref(state);
        Ok(sessions
            .authenticate(&parts.headers, is_api(parts), sessions.clock.now())
            .ok())
    }
}

/// A role an endpoint can require.
pub trait RoleName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The `admin` role: user administration.
pub struct Admin;

impl RoleName for Admin {
    const NAME: &'static str = "admin";
}

/// A signed-in caller who holds role `R` *now*: the role is read from the store on every
/// request, so taking it away takes effect at once. 403 (`insufficient_role` JSON on `/api/*`,
/// a page elsewhere) for anybody else who is signed in.
pub struct RequireRole<R: RoleName>(pub CurrentUser, std::marker::PhantomData<R>);

impl<S, R> FromRequestParts<S> for RequireRole<R>
where
    SessionState: FromRef<S>,
    S: Send + Sync,
    R: RoleName,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let user = <CurrentUser as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let api = is_api(parts);
        let roles = match user.claims.uid {
            Some(uid) => SessionState::from_ref(state)
                .store
                .current_roles(uid)
                .await
                .map_err(|err| store_failure(err, api))?,
            None => None,
        };
        if roles.is_some_and(|roles| roles.iter().any(|r| r == R::NAME)) {
            return Ok(Self(user, std::marker::PhantomData));
        }
        Err(if api {
            ApiError::insufficient_role(R::NAME).into_response()
        } else {
            crate::error::PageError::new(
                axum::http::StatusCode::FORBIDDEN,
                "Not allowed",
                "Your account does not have the role this page requires. Ask an administrator.",
            )
            .reason("insufficient_role")
            .into_response()
        })
    }
}

fn store_failure(err: crate::store::StoreError, api: bool) -> Response {
    if api {
        ApiError::from(err).into_response()
    } else {
        crate::error::PageError::from(err).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                name.clone(),
                HeaderValue::from_str(value).expect("valid header"),
            );
        }
        map
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in ["Bearer abc", "bearer abc", "BEARER  abc "] {
            let h = headers(&[(header::AUTHORIZATION, value)]);
            assert_eq!(
                find_token(&h, COOKIE_NAME, true),
                Ok(Some(("abc", TokenSource::Bearer))),
                "{value}"
            );
        }
    }

    #[test]
    fn odd_authorization_forms_are_invalid_not_missing() {
        for value in ["Basic abc", "Bearer", "Bearer a b", "abc", "Bearer "] {
            let h = headers(&[(header::AUTHORIZATION, value)]);
            assert_eq!(
                find_token(&h, COOKIE_NAME, true),
                Err(TokenError::Invalid),
                "{value}"
            );
        }
        let twice = headers(&[
            (header::AUTHORIZATION, "Bearer a"),
            (header::AUTHORIZATION, "Bearer b"),
        ]);
        assert_eq!(
            find_token(&twice, COOKIE_NAME, true),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn the_cookie_is_found_among_others_and_duplicates_are_refused() {
        let h = headers(&[(header::COOKIE, "a=1; access_token=tok; b=2")]);
        assert_eq!(
            find_token(&h, COOKIE_NAME, true),
            Ok(Some(("tok", TokenSource::Cookie)))
        );
        let dup = headers(&[
            (header::COOKIE, "access_token=x"),
            (header::COOKIE, "access_token=y"),
        ]);
        assert_eq!(
            find_token(&dup, COOKIE_NAME, true),
            Err(TokenError::Invalid)
        );
        let quoted = headers(&[(header::COOKIE, "access_token=\"x\"")]);
        assert_eq!(
            find_token(&quoted, COOKIE_NAME, true),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn pages_ignore_bearer_headers() {
        let h = headers(&[(header::AUTHORIZATION, "Bearer abc")]);
        assert_eq!(find_token(&h, COOKIE_NAME, false), Ok(None));
    }
}
