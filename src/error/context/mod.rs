//! The one home of what is known about the request being served, for as long as it is
//! served, in two task-locals set at two moments (so no request carries either in an
//! extension):
//! - the connection it came on (`connection`): its TCP peer and its slot under the connection
//!   cap, set once per connection by the server; outside a served connection there is none,
//!   and nothing here invents one;
//! - the request itself (`SCOPE`): its id, the client address (from the trusted chain),
//!   whether the development provider is on, and, once an extractor has checked the session,
//!   who is signed in and the renewed session cookie the answer must carry; set by the
//!   envelope.
//!
//! Pages, errors and log lines read it. It sits in the bottom room beside the errors that
//! render it, so every room may read it.

mod connection;

pub use connection::{CONNECTION, Connection, Lease, lease, peer};

use std::cell::RefCell;
use std::net::IpAddr;

use axum::http::HeaderValue;

use crate::random::RequestId;

/// Facts about the current request that every rendered page needs.
#[derive(Clone, Copy, Debug)]
pub struct RequestContext {
    pub request_id: RequestId,
    pub development: bool,
}

/// The current request, as the envelope set it up.
#[derive(Debug)]
pub struct RequestScope {
    pub ctx: RequestContext,
    /// The client address: the TCP peer, or what a trusted proxy says it forwarded.
    pub client: IpAddr,
    /// The `sub` of the signed-in caller, once a session extractor has verified it; kept
    /// only when the request's log line will be written.
    user: RefCell<Option<InlineText<64>>>,
    wants_user: bool,
    /// A `Set-Cookie` value for a session renewed while this request was checked.
    renewed: RefCell<Option<HeaderValue>>,
}

tokio::task_local! {
    /// Set by the request envelope for the whole life of a request.
    pub(crate) static SCOPE: RequestScope;
}

impl RequestScope {
    /// `wants_user`: whether the caller's `sub` should be kept (for the access log).
    pub fn new(ctx: RequestContext, client: IpAddr, wants_user: bool) -> Self {
        Self {
            ctx,
            client,
            user: RefCell::new(None),
            wants_user,
            renewed: RefCell::new(None),
        }
    }

    /// The renewed session's `Set-Cookie` value, if the request's session was renewed.
    pub fn renewed_cookie(&self) -> Option<HeaderValue> {
        self.renewed.borrow_mut().take()
    }

    /// The signed-in caller's `sub`, if an extractor recorded one.
    pub fn user(&self) -> Option<InlineText<64>> {
        self.user.borrow_mut().take()
    }
}

/// The current request's context; outside a request (unit tests, background tasks) a
/// neutral one.
pub fn context() -> RequestContext {
    SCOPE.try_with(|s| s.ctx).unwrap_or(RequestContext {
        request_id: RequestId::none(),
        development: false,
    })
}

/// The current request's id, if a request is being served.
pub fn request_id() -> Option<RequestId> {
    SCOPE.try_with(|s| s.ctx.request_id).ok()
}

/// The current request's client address, if a request is being served.
pub fn client() -> Option<IpAddr> {
    SCOPE.try_with(|s| s.client).ok()
}

/// Records who the caller is, for the request's log line. Called by the session extractors.
pub fn set_user(sub: &str) {
    let _ = SCOPE.try_with(|s| {
        let mut user = s.user.borrow_mut();
        if s.wants_user && user.is_none() {
            *user = Some(InlineText::new(sub));
        }
    });
}

/// The answer to the current request must carry this `Set-Cookie` (a renewed session).
pub fn set_renewed_cookie(value: HeaderValue) {
    let _ = SCOPE.try_with(|s| *s.renewed.borrow_mut() = Some(value));
}

/// A short text kept without a heap allocation when it fits (a path, a `sub`), for the
/// request's log line: most requests then allocate nothing for it.
/// Up to `N` bytes inline; longer texts on the heap.
#[derive(Clone, Debug)]
pub enum InlineText<const N: usize> {
    Inline { len: usize, bytes: [u8; N] },
    Heap(Box<str>),
}

impl<const N: usize> InlineText<N> {
    pub fn new(text: &str) -> Self {
        if text.len() <= N {
            let mut bytes = [0u8; N];
            bytes[..text.len()].copy_from_slice(text.as_bytes());
            Self::Inline {
                len: text.len(),
                bytes,
            }
        } else {
            Self::Heap(text.into())
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            // Copied whole from a `&str`, so a valid UTF-8 prefix.
            Self::Inline { len, bytes } => std::str::from_utf8(&bytes[..*len]).unwrap_or(""),
            Self::Heap(text) => text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_stay_inline_and_long_ones_are_kept_whole() {
        let short = InlineText::<8>::new("/api/é");
        assert!(matches!(short, InlineText::Inline { .. }));
        assert_eq!(short.as_str(), "/api/é");
        let long = InlineText::<8>::new("/a/much/longer/path");
        assert!(matches!(long, InlineText::Heap(_)));
        assert_eq!(long.as_str(), "/a/much/longer/path");
    }
}
