//! The envelope every request passes through once, as one plain tower service around the
//! router (no boxing, no extraction): it gives the request an id (a trusted proxy's
//! `X-Request-Id`, or a counter with a random process prefix: no random draw), finds the
//! client address and the route template, runs the router inside the request's scope, then
//! adds the security headers, counts the request and writes its one access-log line.

use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tokio::task::futures::TaskLocalFuture;
use tower::Service;

use futures_util::future::Either;
use std::borrow::Cow;

use super::security_headers::{Decisions, REQUEST_ID, renewed_cookie, secure};
use super::templates::RouteIndex;
pub use super::templates::UNMATCHED;
use crate::app::AppState;
use crate::config::{TrustedProxies, canonical};
use crate::error::context::InlineText;
use crate::error::context::peer;
use crate::error::context::{RequestContext, RequestScope, SCOPE};
use crate::error::{ApiError, AppError, PageError};
use crate::gateway::proxy::{FromUpstream, Front};
use crate::gateway::request::is_navigation;
use crate::net::{UNKNOWN_CLIENT, client_ip};
use crate::random::RequestId;
use crate::telemetry::Metrics;
use crate::telemetry::access::{self, AccessLine};
use crate::uri::{self, TargetError};

/// A proxied request's future.
pub type Proxied = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

struct Shared {
    routes: RouteIndex,
    templates: Vec<&'static str>,
    metrics: Arc<Metrics>,
    trusted: TrustedProxies,
    https: bool,
    development: bool,
    log_health_checks: bool,
    /// The session cookie's name, so a renewal never overrides a sign-in's or sign-out's.
    cookie_name: &'static str,
}

/// The envelope around `S` (the router), and the proxy for the configured routes.
#[derive(Clone)]
pub struct Envelope<S> {
    inner: S,
    front: Option<Front>,
    /// The route index of the proxy's first route.
    proxy_base: usize,
    shared: Arc<Shared>,
}

impl<S> Envelope<S> {
    /// Wraps `inner`, whose routes are `templates` (the last one `UNMATCHED`), and `front`,
    /// whose routes are counted as `proxy:<name>`.
    pub fn new(
        inner: S,
        mut templates: Vec<&'static str>,
        front: Option<Front>,
        state: &AppState,
    ) -> Self {
        let unmatched = templates.pop().unwrap_or(UNMATCHED);
        let proxy_base = templates.len();
        if let Some(front) = &front {
            // Route names come from the configuration: a few, fixed at start.
            templates.extend(
                front
                    .proxy
                    .routes()
                    .iter()
                    .map(|r| &*Box::leak(format!("proxy:{}", r.name).into_boxed_str())),
            );
        }
        templates.push(unmatched);
        state.metrics.set_routes(&templates);
        Self {
            inner,
            front,
            proxy_base,
            shared: Arc::new(Shared {
                routes: RouteIndex::new(&templates),
                templates,
                metrics: state.metrics.clone(),
                trusted: state.config.server.trusted_proxies.clone(),
                https: state.https(),
                development: state.dev.is_some(),
                log_health_checks: state.config.telemetry.log_health_checks,
                cookie_name: state.sessions.cookie.name(),
            }),
        }
    }
}

impl<S> Envelope<S> {
    /// Checks the request's target (one valid `Host`, the path in normal form) and puts the
    /// normal path into the request, so the router, the proxy and the upstream all see the
    /// same one; then finds the proxy route, if any. `Some(error)` when it is refused.
    fn route_target(&self, request: &mut Request<Body>) -> (Option<TargetError>, Option<usize>) {
        let (normal, proxied) = match uri::check(request.uri(), request.headers()) {
            Ok(checked) => {
                let proxied = self
                    .front
                    .as_ref()
                    .and_then(|front| front.proxy.find(checked.authority.as_ref(), &checked.path));
                match checked.path {
                    Cow::Owned(normal) => (Some(normal), proxied),
                    Cow::Borrowed(_) => (None, proxied),
                }
            }
            Err(error) => return (Some(error), None),
        };
        if let Some(normal) = normal {
            match uri::with_path(request.uri(), &normal) {
                Some(rewritten) => *request.uri_mut() = rewritten,
                None => return (Some(TargetError::Path(uri::PathError::BadEscape)), None),
            }
        }
        (None, proxied)
    }
}

/// The 400 for a request target that is refused, as a page for a browser navigation.
fn refuse(error: TargetError, navigation: bool) -> Response {
    let code = match error {
        TargetError::Path(_) => "invalid_path",
        _ => "invalid_host",
    };
    let err = AppError::bad_request(code, error.message())
        .detail(error.as_str())
        .page(
            "Bad request",
            "This address cannot be served as it is written. Check the link and try again.",
        );
    if navigation {
        PageError::from(err).into_response()
    } else {
        ApiError::from(err).into_response()
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
    type Future = EnvelopeFuture<Either<S::Future, Proxied>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let started = Instant::now();
        let shared = &self.shared;
        let (request_id, client) = shared.identify(&request);
        // The log shows the path as the client sent it; everything else sees its normal form.
        let sent = access::enabled().then(|| InlineText::new(request.uri().path()));
        let (refused, proxied) = self.route_target(&mut request);
        let path = request.uri().path();
        let route = match (refused, proxied) {
            (Some(_), _) => shared.routes.unmatched,
            (None, Some(i)) => self.proxy_base + i,
            (None, None) => shared.routes.find(path),
        };
        let decisions = Decisions::for_path(path);
        let logged = sent
            .filter(|_| shared.log_health_checks || !shared.routes.quiet[route])
            .map(|path| Logged {
                method: request.method().clone(),
                path,
            });
        let scope = RequestScope::new(
            RequestContext {
                request_id,
                development: shared.development,
            },
            client,
            logged.is_some(),
        );
        let future = match (refused, proxied, &self.front) {
            (Some(error), _, _) => {
                let navigation = is_navigation(request.headers());
                Either::Right(Box::pin(async move { Ok(refuse(error, navigation)) }) as Proxied)
            }
            (None, Some(index), Some(front)) => {
                let front = front.clone();
                Either::Right(
                    Box::pin(async move { Ok(front.handle(index, request).await) }) as Proxied,
                )
            }
            _ => Either::Left(self.inner.call(request)),
        };
        EnvelopeFuture {
            inner: SCOPE.scope(scope, future),
            shared: shared.clone(),
            started,
            request_id,
            route,
            decisions,
            logged,
        }
    }
}

impl Shared {
    /// The request's id and client address: a trusted proxy's `X-Request-Id` and
    /// `X-Forwarded-For` are believed, nobody else's. No known peer (the router called
    /// in-process) is never a trusted proxy.
    fn identify(&self, request: &Request<Body>) -> (RequestId, IpAddr) {
        match peer().map(canonical) {
            Some(peer) if self.trusted.contains(peer) => {
                let given = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| RequestId::parse(v.as_bytes()));
                (
                    given.unwrap_or_else(RequestId::next),
                    client_ip(peer, request.headers(), &self.trusted),
                )
            }
            Some(peer) => (RequestId::next(), peer),
            None => (RequestId::next(), UNKNOWN_CLIENT),
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
        let from_upstream = response.extensions().get::<FromUpstream>().is_some();
        if from_upstream {
            // The service's own answer: its headers are its business; only the id is added.
            if let Ok(id) = HeaderValue::from_str(this.request_id.as_str()) {
                response.headers_mut().insert(REQUEST_ID, id);
            }
        } else if !(this.decisions.gateway && response.status() == axum::http::StatusCode::OK) {
            secure(
                &mut response,
                *this.request_id,
                *this.decisions,
                this.shared.https,
            );
        }
        if let Some(cookie) = scope.as_ref().and_then(RequestScope::renewed_cookie) {
            renewed_cookie(&mut response, cookie, this.shared.cookie_name);
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
