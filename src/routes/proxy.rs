//! doorman as the front door: a request on a `[[gateway.route]]` is judged by the route's
//! policy exactly as forward-auth judges one (browsers are sent to sign in and back, programs
//! get 401 JSON), and, when allowed, forwarded to the upstream with the identity headers and
//! the signed assertion (`gateway::proxy`). An upstream that cannot be reached is a 502, one
//! too slow to answer a 504, as JSON or a page by the same browser rule, counted by route.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use url::Url;

use super::gateway::{forbidden, identity_for, identity_too_large, unauthenticated, unavailable};
use crate::app::AppState;
use crate::config::canonical;
use crate::error::{ApiError, AppError, PageError};
use crate::gateway::proxy::headers::Forwarded;
use crate::gateway::proxy::tunnel::{Bounds, Session};
use crate::gateway::proxy::{Additions, Failure, Proxy};
use crate::gateway::request::is_navigation;
use crate::gateway::{Decision, Endpoint, Target, decide_target};
use crate::net::{client_ip, peer};
use crate::session::Claims;
use crate::uri::{self, Authority};

/// Marks a response that came from an upstream: the envelope leaves its headers alone (the
/// service sets its own CSP and caching).
#[derive(Clone, Copy, Debug)]
pub struct FromUpstream;

/// The proxy with what it needs from the application.
#[derive(Clone)]
pub struct Front {
    pub state: AppState,
    pub proxy: Arc<Proxy>,
}

impl Front {
    /// Judges and, if allowed, forwards `request`, which route `index` covers. The envelope
    /// has already checked its target (one valid `Host`, the path in normal form).
    pub async fn handle(self, index: usize, request: Request<Body>) -> Response {
        let state = &self.state;
        let route = &self.proxy.routes()[index];
        let Some(policy) = state.config.gateway.policies.get(&route.policy) else {
            return ApiError::from(AppError::internal("a route names an unknown policy"))
                .into_response();
        };
        let host = uri::host(request.headers()).ok().flatten();
        let Some(target) = target(state, host.as_ref(), &request) else {
            return ApiError::from(AppError::bad_request(
                "bad_request",
                "the request's Host or path cannot be read",
            ))
            .into_response();
        };
        let audience = self.proxy.audience(
            index,
            policy.audience.as_deref(),
            host.as_ref().map(Authority::host),
        );
        let navigation = !policy.api && is_navigation(request.headers());
        let decision = decide_target(
            policy,
            target,
            request.headers(),
            &state.sessions,
            state.clock.now(),
        );
        let (verdict, reason) = decision.labels();
        state.metrics.authz_decision("proxy", verdict, reason);
        match decision {
            Decision::Allow { caller, reason, .. } => {
                let claims = caller.as_deref().map(|c| &c.claims);
                let identity = match identity_for(state, claims, &audience) {
                    Ok(identity) => identity,
                    Err(size) => return identity_too_large(size),
                };
                let preflight = reason == "preflight";
                let tunnel = tunnel_bounds(state, claims);
                self.exchange(index, request, &identity, tunnel, preflight, navigation)
                    .await
            }
            Decision::Unauthenticated {
                target,
                reason,
                bearer,
                navigation,
            } => unauthenticated(state, Endpoint::Proxy, &target, reason, bearer, navigation),
            Decision::Forbidden {
                reason,
                required,
                navigation,
            } => forbidden(Endpoint::Proxy, reason, &required, navigation),
            Decision::Unavailable => unavailable(),
            Decision::BadRequest { error, message, .. } => {
                ApiError::from(AppError::bad_request(error, message)).into_response()
            }
        }
    }

    /// Prepares the allowed request for the upstream (identity, forwarding headers; no
    /// credentials at all for a preflight), sends it and answers with the service's answer.
    async fn exchange(
        &self,
        index: usize,
        request: Request<Body>,
        identity: &[(header::HeaderName, header::HeaderValue)],
        tunnel: Bounds<'_>,
        preflight: bool,
        navigation: bool,
    ) -> Response {
        let state = &self.state;
        let route = &self.proxy.routes()[index];
        let trusted_proxies = &state.config.server.trusted_proxies;
        // No known peer (the router called in-process) is never a trusted proxy.
        let peer = peer().map(canonical);
        let trusted = peer.is_some_and(|p| trusted_proxies.contains(p));
        let additions = Additions {
            identity,
            tunnel,
            forwarded: Forwarded {
                peer,
                client: peer.map(|p| client_ip(p, request.headers(), trusted_proxies)),
                trusted,
                scheme: if state.https() { "https" } else { "http" },
                host: request.headers().get(header::HOST).cloned(),
                prefix: route.strip_prefix.then_some(route.path_prefix.as_str()),
            },
            strip_credentials: preflight,
        };
        match self.proxy.forward(index, request, additions).await {
            Ok((mut response, answered)) => {
                if answered.cookies_dropped > 0 {
                    tracing::warn!(
                        route = %route.name,
                        count = answered.cookies_dropped,
                        "the service tried to set doorman's own cookie; dropped"
                    );
                    state
                        .metrics
                        .upstream_cookie_dropped(&route.name, answered.cookies_dropped);
                }
                response.extensions_mut().insert(FromUpstream);
                response
            }
            Err(failure) => failed(state, &route.name, &failure, navigation),
        }
    }
}

/// What ends a tunnel the request may become: its session (none for an anonymous caller),
/// the idle limit, and what to check them with.
fn tunnel_bounds<'a>(state: &'a AppState, claims: Option<&'a Claims>) -> Bounds<'a> {
    Bounds {
        session: claims.map(|c| Session {
            revocation_id: c.revocation_id(),
            exp: c.exp,
        }),
        revocations: &state.sessions.revocations,
        clock: &state.clock,
        metrics: &state.metrics,
        idle: state.config.server.websocket_idle,
    }
}

/// The request as the browser addressed it: doorman's public scheme, the checked `Host` (or
/// `PUBLIC_URL`'s when there is none), the path in normal form.
fn target(
    state: &AppState,
    host: Option<&Authority<'_>>,
    request: &Request<Body>,
) -> Option<Target> {
    let scheme = if state.https() { "https" } else { "http" };
    let host = host.map_or_else(
        || Cow::Owned(state.config.public_url().authority()),
        |h| Cow::Borrowed(h.as_str()),
    );
    let path = request.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let url = Url::parse(&format!("{scheme}://{host}{path}")).ok()?;
    Some(Target {
        url,
        method: request.method().clone(),
    })
}

/// 502 or 504 (the service's failure, counted), or 400 (the client's own body), as JSON or
/// a page. Logged once, where it is rendered, with the detail.
fn failed(state: &AppState, route: &str, failure: &Failure, navigation: bool) -> Response {
    let err = match failure {
        Failure::Unreachable(detail) => AppError::new(
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            "the service behind doorman could not be reached",
        )
        .detail(format!("route {route}: {detail}"))
        .page(
            "Service unreachable",
            "You are signed in, but the service behind this address is not answering. Try again in a moment.",
        ),
        Failure::Timeout => AppError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the service behind doorman did not answer in time",
        )
        .detail(format!("route {route}: no answer in time"))
        .page(
            "Service too slow",
            "You are signed in, but the service behind this address is not answering. Try again in a moment.",
        ),
        Failure::ClientBody(detail) => AppError::bad_request(
            "bad_request_body",
            "the request body could not be read (malformed or interrupted)",
        )
        .detail(format!("route {route}: {detail}"))
        .page(
            "Bad request",
            "The request could not be read as it was sent. Try again.",
        ),
    };
    if !matches!(failure, Failure::ClientBody(_)) {
        state.metrics.upstream_error(route, failure.kind());
    }
    if navigation {
        PageError::from(err).into_response()
    } else {
        ApiError::from(err).into_response()
    }
}
