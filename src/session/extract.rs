//! The extractors that put authorisation in a handler's signature: `ApiUser` (Bearer or the
//! cookie; 401 JSON), `PageUser` (the cookie; a redirect to sign in and back),
//! `RequireRole<R, U>` (a role held *now*, read from the store), and `SameOrigin` (a browser
//! POST from this site). They borrow the application's `Sessions`; nothing is cloned.

use std::marker::PhantomData;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Caller, Claims, SessionProblem, Sessions, TokenSource};
use crate::error::{ApiError, AppError, PageError};
use crate::identity::ADMIN_ROLE;

/// Application state that holds the session service.
pub trait SessionContext: Send + Sync {
    fn sessions(&self) -> &Sessions;
    /// `PUBLIC_URL`'s origin, as browsers send it in `Origin`.
    fn public_origin(&self) -> &str;
    /// `ROLE_FROM_GROUPS` (or the provider's `role_from_groups`): the (role, group) pairs of
    /// the provider whose issuer is `idp`.
    fn roles_from_groups(&self, _idp: &str) -> &[(String, String)] {
        &[]
    }
}

/// A caller of an API route: Bearer token or session cookie; 401 JSON otherwise.
#[derive(Clone, Debug)]
pub struct ApiUser {
    pub claims: Claims,
    pub source: TokenSource,
}

impl From<Caller> for ApiUser {
    fn from(c: Caller) -> Self {
        Self {
            claims: c.claims,
            source: c.source,
        }
    }
}

impl<S: SessionContext> FromRequestParts<S> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let sessions = state.sessions();
        sessions
            .authenticate(&parts.headers, true, sessions.clock.now())
            .await
            .map(Self::from)
            .map_err(|problem| ApiError::from(AppError::from(problem)))
    }
}

/// For routes that work signed out too: any problem with the credentials means signed out.
impl<S: SessionContext> OptionalFromRequestParts<S> for ApiUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let sessions = state.sessions();
        Ok(sessions
            .authenticate(&parts.headers, true, sessions.clock.now())
            .await
            .ok()
            .map(Self::from))
    }
}

/// A person on a page: the session cookie only (pages never read Bearer headers).
#[derive(Clone, Debug)]
pub struct PageUser {
    pub claims: Claims,
}

/// A page's answer to a visitor without a session: sign in, then come back here.
#[derive(Debug)]
pub struct SignInFirst {
    return_to: String,
}

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        let next: String =
            url::form_urlencoded::byte_serialize(self.return_to.as_bytes()).collect();
        Redirect::to(&format!("/auth/login?next={next}")).into_response()
    }
}

/// Why a page cannot be shown to this visitor.
#[derive(Debug)]
pub enum PageRefusal {
    /// No usable session: sign in, then come back.
    SignIn(SignInFirst),
    /// The store cannot tell whether the session was ended: a 503 page.
    Unavailable(PageError),
}

impl IntoResponse for PageRefusal {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(redirect) => redirect.into_response(),
            Self::Unavailable(page) => page.into_response(),
        }
    }
}

impl<S: SessionContext> FromRequestParts<S> for PageUser {
    type Rejection = PageRefusal;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageRefusal> {
        let sessions = state.sessions();
        match sessions
            .authenticate(&parts.headers, false, sessions.clock.now())
            .await
        {
            Ok(caller) => Ok(Self {
                claims: caller.claims,
            }),
            Err(problem @ SessionProblem::Unavailable) => Err(PageRefusal::Unavailable(
                PageError::from(AppError::from(problem)),
            )),
            Err(_) => Err(PageRefusal::SignIn(SignInFirst {
                return_to: parts
                    .uri
                    .path_and_query()
                    .map_or("/", |pq| pq.as_str())
                    .to_owned(),
            })),
        }
    }
}

impl<S: SessionContext> OptionalFromRequestParts<S> for PageUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let sessions = state.sessions();
        Ok(sessions
            .authenticate(&parts.headers, false, sessions.clock.now())
            .await
            .ok()
            .map(|caller| Self {
                claims: caller.claims,
            }))
    }
}

/// A signed-in caller of some kind, and how refusals are rendered for it.
pub trait SignedIn {
    fn claims(&self) -> &Claims;
    fn refuse(err: AppError) -> Response;
}

impl SignedIn for ApiUser {
    fn claims(&self) -> &Claims {
        &self.claims
    }
    fn refuse(err: AppError) -> Response {
        ApiError::from(err).into_response()
    }
}

impl SignedIn for PageUser {
    fn claims(&self) -> &Claims {
        &self.claims
    }
    fn refuse(err: AppError) -> Response {
        PageError::from(err).into_response()
    }
}

/// A role an endpoint can require.
pub trait RoleName: Send + Sync + 'static {
    const NAME: &'static str;
}

/// The `admin` role: user administration.
pub struct Admin;

impl RoleName for Admin {
    const NAME: &'static str = ADMIN_ROLE;
}

/// A signed-in caller (`U`: `ApiUser` or `PageUser`) who holds role `R` *now*: the role is
/// read from the store on every request, so taking it away takes effect at once. Others get
/// 403 `insufficient_role`, rendered as `U` renders.
pub struct RequireRole<R: RoleName, U = ApiUser>(pub U, PhantomData<R>);

impl<S, R, U> FromRequestParts<S> for RequireRole<R, U>
where
    S: SessionContext,
    R: RoleName,
    U: SignedIn + FromRequestParts<S> + Send,
    U::Rejection: IntoResponse,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let user = U::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let roles = match user.claims().uid {
            Some(uid) => state
                .sessions()
                .store
                .current_roles(uid)
                .await
                .map_err(|err| U::refuse(err.into()))?,
            None => None,
        };
        // A role held in the store now, or granted by a group the session's sign-in had.
        let by_group = state
            .roles_from_groups(user.claims().idp())
            .iter()
            .any(|(role, group)| role == R::NAME && user.claims().in_group(group));
        if by_group || roles.is_some_and(|roles| roles.iter().any(|r| r == R::NAME)) {
            Ok(Self(user, PhantomData))
        } else {
            Err(U::refuse(AppError::insufficient_role(R::NAME)))
        }
    }
}

/// A browser POST that comes from this site (see `is_same_origin`); others get a 403 page.
pub struct SameOrigin;

impl<S: SessionContext> FromRequestParts<S> for SameOrigin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        if is_same_origin(&parts.headers, state.public_origin()) {
            Ok(Self)
        } else {
            Err(PageError::from(
                AppError::forbidden("cross_origin", "this request came from another site").page(
                    "Refused: sent from another site",
                    "This request came from another site, so doorman did not act on it. Use the \
                     buttons and forms on this site.",
                ),
            ))
        }
    }
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
    fn cross_site_posts_are_refused_and_same_site_or_non_browser_is_allowed() {
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
