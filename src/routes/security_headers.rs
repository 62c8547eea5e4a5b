//! The security headers doorman puts on its own answers (never on a proxied service's), and
//! what decides them from the path: which may leave a referrer, which may be cached; and the
//! renewed session cookie, on any answer (a proxied service's too), never for a shared cache.

use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;

use crate::random::RequestId;

/// The request id, on every answer (and, from a trusted proxy, on the way in).
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

const CONTENT_SECURITY_POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; object-src 'none'; \
     base-uri 'none'",
);
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// What the envelope decides from the path before the request goes in, so nothing of the
/// request has to be kept.
#[derive(Clone, Copy)]
pub(super) struct Decisions {
    /// Sign-in URLs carry codes and states: they never leave a referrer.
    pub(super) no_referrer: bool,
    /// Only the stylesheet and the public keys may be stored by a cache.
    pub(super) cacheable: bool,
    /// A gateway decision: its 200 goes to a proxy, which passes on only the identity
    /// headers, so none of the browser headers are added to it.
    pub(super) gateway: bool,
}

impl Decisions {
    pub(super) fn for_path(path: &str) -> Self {
        Self {
            no_referrer: path.starts_with("/auth/login") || path.starts_with("/auth/callback"),
            cacheable: path.starts_with("/static/") || path == "/.well-known/jwks.json",
            gateway: path.starts_with("/.doorman/"),
        }
    }
}

/// The headers every response carries.
pub(super) fn secure(
    response: &mut Response,
    request_id: RequestId,
    decisions: Decisions,
    https: bool,
) {
    let headers = response.headers_mut();
    headers.reserve(8);
    if let Ok(id) = HeaderValue::from_str(request_id.as_str()) {
        headers.insert(REQUEST_ID, id);
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    headers.insert(header::X_FRAME_OPTIONS, DENY);
    // `same-origin`, not `no-referrer`, on pages: under `no-referrer` browsers send
    // `Origin: null` with same-site form posts, and the sign-out check could not tell
    // them from a forged one.
    let referrer = if decisions.no_referrer {
        NO_REFERRER
    } else {
        SAME_ORIGIN
    };
    headers.insert(header::REFERRER_POLICY, referrer);
    // Every answer but the stylesheet may be personal (pages show who is signed in, the
    // API answers with identities and tokens): none may be stored by a cache.
    if !decisions.cacheable {
        headers.insert(header::CACHE_CONTROL, NO_STORE);
    }
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
}

/// A renewed session's cookie on the answer (doorman's, the gateway's or a proxied service's),
/// unless the answer sets the session cookie itself (a sign-in or a sign-out); such an answer
/// is never for a shared cache.
pub(super) fn renewed_cookie(response: &mut Response, cookie: HeaderValue, name: &str) {
    let own = |v: &HeaderValue| {
        v.as_bytes()
            .strip_prefix(name.as_bytes())
            .is_some_and(|r| r.first() == Some(&b'='))
    };
    if response.headers().get_all(SET_COOKIE).iter().any(own) {
        return;
    }
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, cookie);
    // A session cookie must never land in a shared cache with a service's public answer.
    let personal = headers
        .get(CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("no-store") || v.contains("private"));
    if !personal {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
}
