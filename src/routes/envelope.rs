//! The envelope every request passes through once, as one plain tower service around the
//! router (no boxing, no extraction): it gives the request an id (a trusted proxy's
//! `X-Request-Id`, or a counter with a random process prefix: no random draw), finds the
//! client address and the route template, runs the router inside the request's scope, then
//! adds the security headers, counts the request and writes its one access-log line.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, header};
use axum::response::Response;
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;

use crate::app::AppState;
use crate::config::{TrustedProxies, canonical};
use crate::error::context::InlineText;
use crate::error::context::{RequestContext, RequestScope, SCOPE};
use crate::net::{client_ip, peer};
use crate::random::RequestId;
use crate::telemetry::Metrics;
use crate::telemetry::access::{self, AccessLine};

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

/// The label of a path no route matched.
pub const UNMATCHED: &str = "unmatched";
/// Routes whose requests are not logged unless `LOG_HEALTH_CHECKS=true`.
const QUIET: &[&str] = &["/healthz", "/readyz"];

/// What the envelope decides from the path before the request goes in, so nothing of the
/// request has to be kept.
#[derive(Clone, Copy)]
struct Decisions {
    /// Sign-in URLs carry codes and states: they never leave a referrer.
    no_referrer: bool,
    /// Only the stylesheet and the public keys may be stored by a cache.
    cacheable: bool,
    /// A gateway decision: its 200 goes to a proxy, which passes on only the identity
    /// headers, so none of the browser headers are added to it.
    gateway: bool,
}

impl Decisions {
    fn for_path(path: &str) -> Self {
        Self {
            no_referrer: path.starts_with("/auth/login") || path.starts_with("/auth/callback"),
            cacheable: path.starts_with("/static/") || path == "/.well-known/jwks.json",
            gateway: path.starts_with("/.doorman/"),
        }
    }
}

/// The route templates, matched the way the router matches them.
struct RouteIndex {
    matcher: matchit::Router<usize>,
    /// Per template: whether its requests stay out of the access log.
    quiet: Vec<bool>,
    /// The index of `UNMATCHED`.
    unmatched: usize,
}

impl RouteIndex {
    fn new(templates: &[&'static str]) -> Self {
        let mut matcher = matchit::Router::new();
        for (i, template) in templates.iter().enumerate() {
            // The templates are the router's own, which accepted them.
            let _ = matcher.insert(*template, i);
        }
        Self {
            matcher,
            quiet: templates.iter().map(|t| QUIET.contains(t)).collect(),
            unmatched: templates.len().saturating_sub(1),
        }
    }

    fn find(&self, path: &str) -> usize {
        self.matcher
            .at(path)
            .map(|m| *m.value)
            .unwrap_or(self.unmatched)
    }
}

struct Shared {
    routes: RouteIndex,
    templates: Vec<&'static str>,
    metrics: Arc<Metrics>,
    trusted: TrustedProxies,
    https: bool,
    development: bool,
    log_health_checks: bool,
}

/// The envelope around `S` (the router).
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Envelope<S> {
    /// Wraps `inner`, whose routes are `templates` (the last one `UNMATCHED`).
    pub fn new(inner: S, templates: Vec<&'static str>, state: &AppState) -> Self {
        state.metrics.set_routes(&templates);
        Self {
            inner,
            shared: Arc::new(Shared {
                routes: RouteIndex::new(&templates),
                templates,
                metrics: state.metrics.clone(),
                trusted: state.config.server.trusted_proxies.clone(),
                https: state.https(),
                development: state.dev.is_some(),
                log_health_checks: state.config.telemetry.log_health_checks,
            }),
        }
    }
}

/// What the access-log line needs from the request, kept only when the line is written.
struct Logged {
    method: Method,
    path: InlineText<96>,
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
        let started = Instant::now();
        let shared = &self.shared;
        let peer = canonical(peer());
        let (request_id, client) = if shared.trusted.contains(peer) {
            let given = request
                .headers()
                .get(REQUEST_ID)
                .and_then(|v| RequestId::parse(v.as_bytes()));
            (
                given.unwrap_or_else(RequestId::next),
                client_ip(peer, request.headers(), &shared.trusted),
            )
        } else {
            (RequestId::next(), peer)
        };
        let path = request.uri().path();
        let route = shared.routes.find(path);
        let decisions = Decisions::for_path(path);
        let logged = ((shared.log_health_checks || !shared.routes.quiet[route])
            && access::enabled())
        .then(|| Logged {
            method: request.method().clone(),
            path: InlineText::new(path),
        });
        let scope = RequestScope::new(
            RequestContext {
                request_id,
                development: shared.development,
            },
            client,
            logged.is_some(),
        );
        EnvelopeFuture {
            inner: SCOPE.scope(scope, self.inner.call(request)),
            shared: shared.clone(),
            started,
            request_id,
            route,
            decisions,
            logged,
        }
    }
}

pin_project! {
    /// The router's future inside the request's scope; adds the headers, counts and logs
    /// when it is done.
    pub struct EnvelopeFuture<F: Future> {
        #[pin]
        inner: TaskLocalFuture<RequestScope, F>,
        shared: Arc<Shared>,
        started: Instant,
        request_id: RequestId,
        route: usize,
        decisions: Decisions,
        logged: Option<Logged>,
    }
}

impl<F> Future for EnvelopeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.as_mut().poll(cx));
        let scope = this.inner.take_value();
        let elapsed = this.started.elapsed();
        this.shared
            .metrics
            .http_request(*this.route, response.status().as_u16(), elapsed);
        if !(this.decisions.gateway && response.status() == axum::http::StatusCode::OK) {
            secure(
                &mut response,
                *this.request_id,
                *this.decisions,
                this.shared.https,
            );
        }
        if let (Some(logged), Some(scope)) = (this.logged.take(), scope) {
            access_line(
                &logged,
                &scope,
                this.shared.templates[*this.route],
                response.status().as_u16(),
                elapsed,
            );
        }
        Poll::Ready(Ok(response))
    }
}

/// The headers every response carries.
fn secure(response: &mut Response, request_id: RequestId, decisions: Decisions, https: bool) {
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

/// The request's one line: never the query (it carries codes and states), `user` only when
/// a session was verified.
fn access_line(
    logged: &Logged,
    scope: &RequestScope,
    route: &str,
    status: u16,
    elapsed: std::time::Duration,
) {
    let user = scope.user();
    access::write(&AccessLine {
        request_id: scope.ctx.request_id.as_str(),
        method: logged.method.as_str(),
        route,
        path: logged.path.as_str(),
        status,
        elapsed,
        user: user.as_ref().map(InlineText::as_str),
        client: scope.client,
    });
}
