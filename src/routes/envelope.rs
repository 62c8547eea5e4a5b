//! The envelope every request passes through once, as one plain tower service around the
//! router (no boxing, no extraction): a request id (no random draw: a counter with a random
//! process prefix), the context pages and errors render with, and the security headers every
//! response carries.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, header};
use axum::response::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;

use crate::error::{REQUEST_CONTEXT, RequestContext};
use crate::random::RequestId;

const CONTENT_SECURITY_POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' https:; frame-ancestors 'none'; object-src 'none'; \
     base-uri 'none'",
);
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
const DENY: HeaderValue = HeaderValue::from_static("DENY");
const NO_REFERRER: HeaderValue = HeaderValue::from_static("no-referrer");
const SAME_ORIGIN: HeaderValue = HeaderValue::from_static("same-origin");
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");
const HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");

/// What the envelope decides from the path before the request goes in, so nothing of the
/// request has to be kept.
#[derive(Clone, Copy)]
struct Decisions {
    /// Sign-in URLs carry codes and states: they never leave a referrer.
    no_referrer: bool,
    /// Only the stylesheet may be stored by a cache.
    cacheable: bool,
}

impl Decisions {
    fn for_path(path: &str) -> Self {
        Self {
            no_referrer: path.starts_with("/auth/login") || path.starts_with("/auth/callback"),
            cacheable: path.starts_with("/static/"),
        }
    }
}

/// The envelope around `S` (the router).
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    https: bool,
    development: bool,
}

impl<S> Envelope<S> {
    pub fn new(inner: S, https: bool, development: bool) -> Self {
        Self {
            inner,
            https,
            development,
        }
    }
}

impl<S> Service<Request<Body>> for Envelope<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EnvelopeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let request_id = RequestId::next();
        let decisions = Decisions::for_path(request.uri().path());
        let ctx = RequestContext {
            request_id,
            development: self.development,
        };
        EnvelopeFuture {
            inner: REQUEST_CONTEXT.scope(ctx, self.inner.call(request)),
            request_id,
            decisions,
            https: self.https,
        }
    }
}

pin_project! {
    /// The router's future inside the request's context; adds the headers when it is done.
    pub struct EnvelopeFuture<F: Future> {
        #[pin]
        inner: TaskLocalFuture<RequestContext, F>,
        request_id: RequestId,
        decisions: Decisions,
        https: bool,
    }
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        let headers = response.headers_mut();
        headers.reserve(8);
        if let Ok(id) = HeaderValue::from_str(this.request_id.as_str()) {
            headers.insert(REQUEST_ID, id);
        }
        headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
        headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        headers.insert(header::X_FRAME_OPTIONS, DENY);
        // `same-origin`, not `no-referrer`, on pages: under `no-referrer` browsers send
        // `Origin: null` with same-site form posts, and the sign-out check could not tell
        // them from a forged one.
        let referrer = if this.decisions.no_referrer {
            NO_REFERRER
        } else {
            SAME_ORIGIN
        };
        headers.insert(header::REFERRER_POLICY, referrer);
        // Every answer but the stylesheet may be personal (pages show who is signed in, the
        // API answers with identities and tokens): none may be stored by a cache.
        if !this.decisions.cacheable {
            headers.insert(header::CACHE_CONTROL, NO_STORE);
        }
        if *this.https {
            headers.insert(header::STRICT_TRANSPORT_SECURITY, HSTS);
        }
        Poll::Ready(Ok(response))
    }
}
