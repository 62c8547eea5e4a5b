//! The front door's request handling, phase by phase (the list is in `proxy`'s `//!`):
//! `handle` judges the request by its route's policy, prepares the upstream request, exchanges
//! it, and answers. A refused request gets the same answers as forward-auth (browsers are sent
//! to sign in and back, programs get 401 JSON); an upstream that cannot be reached is a 502,
//! one too slow a 504, a client's broken body a 400, as JSON or a page by the same browser
//! rule, each logged once where it is rendered.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Proxy;
use super::forward::{Answered, Failure, Forwarding};
use super::hygiene::Forwarded;
use super::tunnel::{Bounds, Session};
use crate::config::{Policy, ProxyRoute, canonical};
use crate::error::context::peer;
use crate::error::{ApiError, AppError, PageError};
use crate::gateway::decide::{Allow, Decision, decide_target};
use crate::gateway::forward_auth::identity_too_large;
use crate::gateway::identity::Headers;
use crate::gateway::reason::Allowed;
use crate::gateway::request::{Endpoint, Target, is_navigation};
use crate::gateway::service::Gateway;
use crate::net::client_ip;
use crate::session::Claims;
use crate::uri::{self, Authority};

/// Marks a response that came from an upstream: the envelope leaves its headers alone (the
/// service sets its own CSP and caching).
#[derive(Clone, Copy, Debug)]
pub struct FromUpstream;

/// The front door: the gateway and its routes.
#[derive(Clone)]
pub struct Front {
    pub gateway: Arc<Gateway>,
    pub proxy: Arc<Proxy>,
}

/// What judging found: the request passes, or its answer is already known.
enum Judged<'a> {
    Pass(Admitted<'a>),
    Answered(Response),
}

/// What judging an allowed request found.
struct Admitted<'a> {
    allow: Allow,
    /// The route's policy, and its name.
    policy: (&'a str, &'a Policy),
    audience: Cow<'a, str>,
    navigation: bool,
}

impl Front {
    /// Phases 2 to 5 for `request`, which route `index` covers (phase 1: `Proxy::find`). The
    /// envelope has already checked its target (one valid `Host`, the path in normal form).
    pub async fn handle(self, index: usize, mut request: Request<Body>) -> Response {
        let admitted = match self.judge(index, &mut request).await {
            Judged::Pass(admitted) => admitted,
            Judged::Answered(refused) => return refused,
        };
        let claims = admitted.allow.caller.as_deref().map(|c| &c.claims);
        let identity = match self
            .gateway
            .identity_for(claims, &admitted.audience, admitted.policy)
        {
            Ok(identity) => identity,
            Err(size) => return identity_too_large(size),
        };
        let forwarding = self.forwarding(index, &request, &identity, &admitted.allow, claims);
        let exchanged = match self.proxy.prepare(index, request, &forwarding) {
            Ok(prepared) => self.proxy.exchange(index, prepared).await,
            Err(failure) => Err(failure),
        };
        self.answer(index, exchanged, admitted.navigation)
    }

    /// Phase 2: the route's policy decides, counted; a refusal is answered at once.
    /// (`request` is taken `&mut` only so that the future holding it stays `Send`.)
    async fn judge(&self, index: usize, request: &mut Request<Body>) -> Judged<'_> {
        let gateway = &self.gateway;
        let route = &self.proxy.routes()[index];
        let Some(policy) = gateway.policies.get(&route.policy) else {
            return Judged::Answered(
                ApiError::from(AppError::internal("a route names an unknown policy"))
                    .into_response(),
            );
        };
        let host = uri::host(request.headers()).ok().flatten();
        let target = target(gateway, host.as_ref(), request);
        let audience = self.proxy.audience(
            index,
            policy.audience.as_deref(),
            host.as_ref().map(Authority::host),
        );
        let navigation = !policy.api && is_navigation(request.headers());
        let now = gateway.clock.now();
        let decision =
            decide_target(policy, target, request.headers(), &gateway.sessions, now).await;
        let (verdict, reason) = decision.labels();
        gateway.metrics.authz_decision("proxy", verdict, reason);
        match decision {
            Decision::Allow(allow) => Judged::Pass(Admitted {
                allow,
                policy: (&route.policy, policy),
                audience,
                navigation,
            }),
            Decision::Refuse(refusal) => {
                Judged::Answered(gateway.refuse(Endpoint::Proxy, &route.policy, refusal))
            }
        }
    }

    /// Phase 3's input: what doorman adds (identity, forwarding headers), what it removes
    /// (every credential, for a preflight) and what bounds a tunnel.
    fn forwarding<'a>(
        &'a self,
        index: usize,
        request: &Request<Body>,
        identity: &'a Headers,
        allow: &Allow,
        claims: Option<&'a Claims>,
    ) -> Forwarding<'a> {
        let gateway = &self.gateway;
        let route: &'a ProxyRoute = &self.proxy.routes()[index];
        let trusted_proxies = &gateway.trusted_proxies;
        // No known peer (the router called in-process) is never a trusted proxy.
        let peer = peer().map(canonical);
        Forwarding {
            identity,
            forwarded: Forwarded {
                peer,
                client: peer.map(|p| client_ip(p, request.headers(), trusted_proxies)),
                trusted: peer.is_some_and(|p| trusted_proxies.contains(p)),
                scheme: if gateway.https() { "https" } else { "http" },
                host: request.headers().get(header::HOST).cloned(),
                prefix: route.strip_prefix.then_some(route.path_prefix.as_str()),
            },
            strip_credentials: allow.reason == Allowed::Preflight,
            tunnel: Bounds {
                session: claims.map(|c| Session {
                    revocation_id: c.revocation_id(),
                    exp: c.exp,
                    iat: c.iat,
                }),
                revocations: &gateway.sessions.revocations,
                clock: &gateway.clock,
                metrics: &gateway.metrics,
                idle: gateway.websocket_idle,
            },
        }
    }

    /// Phase 5: the service's answer, marked as the service's; or the failure.
    fn answer(
        &self,
        index: usize,
        exchanged: Result<(axum::http::Response<Body>, Answered), Failure>,
        navigation: bool,
    ) -> Response {
        let route = &self.proxy.routes()[index];
        match exchanged {
            Ok((mut response, answered)) => {
                if answered.cookies_dropped > 0 {
                    tracing::warn!(
                        route = %route.name,
                        count = answered.cookies_dropped,
                        "the service tried to set doorman's own cookie; dropped"
                    );
                    self.gateway
                        .metrics
                        .upstream()
                        .cookies_dropped(&route.name, answered.cookies_dropped);
                }
                response.extensions_mut().insert(FromUpstream);
                response
            }
            Err(failure) => self.failed(&route.name, &failure, navigation),
        }
    }

    /// 502 or 504 (the service's failure, counted), or 400 (the client's own body).
    fn failed(&self, route: &str, failure: &Failure, navigation: bool) -> Response {
        let err = failure_error(route, failure);
        if !matches!(failure, Failure::ClientBody(_)) {
            self.gateway
                .metrics
                .upstream()
                .failed(route, failure.kind());
        }
        if navigation {
            PageError::from(err).into_response()
        } else {
            ApiError::from(err).into_response()
        }
    }
}

/// The error a failure is, with its detail for the one log line.
fn failure_error(route: &str, failure: &Failure) -> AppError {
    const UNANSWERED: &str = "You are signed in, but the service behind this address is not \
                              answering. Try again in a moment.";
    match failure {
        Failure::Unreachable(detail) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            "the service behind doorman could not be reached",
        )
        .detail(format!("route {route}: {detail}"))
        .page("Service unreachable", UNANSWERED),
        Failure::Timeout => AppError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the service behind doorman did not answer in time",
        )
        .detail(format!("route {route}: no answer in time"))
        .page("Service too slow", UNANSWERED),
        Failure::ClientBody(detail) => AppError::bad_request(
            "bad_request_body",
            "the request body could not be read (malformed or interrupted)",
        )
        .detail(format!("route {route}: {detail}"))
        .page(
            "Bad request",
            "The request could not be read as it was sent. Try again.",
        ),
    }
}

/// The request as the browser addressed it: doorman's public scheme, the checked `Host` (or
/// `PUBLIC_URL`'s when there is none), the path in normal form.
fn target(gateway: &Gateway, host: Option<&Authority<'_>>, request: &Request<Body>) -> Target {
    let scheme = if gateway.https() { "https" } else { "http" };
    let host = host.map_or_else(
        || Cow::Owned(gateway.public_url.authority()),
        |h| Cow::Borrowed(h.as_str()),
    );
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    Target::assembled(scheme, &host, path, request.method().clone())
}
